package io.sessionstack.demo;

import org.springframework.session.web.context.AbstractHttpSessionApplicationInitializer;

/**
 * Found by spring-web's ServletContainerInitializer at deployment: starts a Spring context with
 * {@link RedisSessionConfig} and puts springSessionRepositoryFilter in front of every request, so
 * {@code request.getSession()} returns a Redis-backed session (cookie SESSION) instead of the
 * container's in-memory one.
 */
public class SessionInitializer extends AbstractHttpSessionApplicationInitializer {
    public SessionInitializer() {
        super(RedisSessionConfig.class);
    }
}
