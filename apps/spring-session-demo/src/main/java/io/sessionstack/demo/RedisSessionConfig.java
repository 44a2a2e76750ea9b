package io.sessionstack.demo;

import java.time.Duration;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.RedisPassword;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceClientConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.session.data.redis.config.annotation.web.http.EnableRedisHttpSession;

/**
 * Sessions live in Redis (Spring Session's non-indexed RedisSessionRepository: it needs no
 * keyspace notifications and never calls CONFIG, so it works against a locked-down Redis or
 * ElastiCache). The connection comes from the same environment variables Spring Boot would read
 * (SPRING_DATA_REDIS_HOST/PORT/SSL_ENABLED/PASSWORD), which WildflyCluster sets on its pods for
 * the redis session backend; this WAR reads them itself because it does not use Boot.
 */
@Configuration
@EnableRedisHttpSession(redisNamespace = "sessionstack:session", maxInactiveIntervalInSeconds = 1800)
public class RedisSessionConfig {

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        if (value == null || value.isBlank()) {
            value = System.getProperty(name);
        }
        return value == null || value.isBlank() ? fallback : value.trim();
    }

    @Bean
    public LettuceConnectionFactory redisConnectionFactory() {
        String host = env("SPRING_DATA_REDIS_HOST", "localhost");
        int port = Integer.parseInt(env("SPRING_DATA_REDIS_PORT", "6379"));
        boolean ssl = Boolean.parseBoolean(env("SPRING_DATA_REDIS_SSL_ENABLED", "false"));
        // Not trimmed or defaulted through env(): a password is taken exactly as given.
        String password = System.getenv("SPRING_DATA_REDIS_PASSWORD");

        RedisStandaloneConfiguration server = new RedisStandaloneConfiguration(host, port);
        if (password != null && !password.isEmpty()) {
            server.setPassword(RedisPassword.of(password));
        }
        LettuceClientConfiguration.LettuceClientConfigurationBuilder client =
                LettuceClientConfiguration.builder().commandTimeout(Duration.ofSeconds(5));
        if (ssl) {
            client.useSsl();
        }
        return new LettuceConnectionFactory(server, client.build());
    }
}
