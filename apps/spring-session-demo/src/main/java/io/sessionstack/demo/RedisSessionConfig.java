package io.sessionstack.demo;

import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.stream.Collectors;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import org.springframework.data.redis.connection.RedisClusterConfiguration;
import org.springframework.data.redis.connection.RedisPassword;
import org.springframework.data.redis.connection.RedisSentinelConfiguration;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceClientConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.session.data.redis.config.annotation.web.http.EnableRedisHttpSession;

/**
 * Sessions live in Redis (Spring Session's non-indexed RedisSessionRepository: it needs no
 * keyspace notifications and never calls CONFIG, so it works against a locked-down Redis or
 * ElastiCache). The connection comes from the same environment variables Spring Boot would read
 * (SPRING_DATA_REDIS_HOST/PORT/SSL_ENABLED/PASSWORD, and SPRING_DATA_REDIS_SENTINEL_MASTER/NODES
 * when the store runs Sentinels), which WildflyCluster sets on its pods for the redis session
 * backend; this WAR reads them itself because it does not use Boot. With a Sentinel master name,
 * Lettuce asks the Sentinels for the primary at every (re)connect, so after a failover it reaches
 * the promoted replica; the Sentinels take the same password as Redis unless
 * SPRING_DATA_REDIS_SENTINEL_PASSWORD says otherwise. With SPRING_DATA_REDIS_CLUSTER_NODES (a
 * Redis Cluster) Lettuce's cluster client learns the slots from those nodes, follows MOVED and ASK
 * redirects, and refreshes its view of the cluster on every redirect, on repeated reconnects and
 * every few seconds, so it finds a replica promoted after a primary failed.
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

    static Set<String> hostPorts(String nodes) {
        return Arrays.stream(nodes.split(","))
                .map(String::trim)
                .filter(node -> !node.isEmpty())
                .collect(Collectors.toCollection(LinkedHashSet::new));
    }

    @Bean
    public LettuceConnectionFactory redisConnectionFactory() {
        boolean ssl = Boolean.parseBoolean(env("SPRING_DATA_REDIS_SSL_ENABLED", "false"));
        // Not trimmed or defaulted through env(): a password is taken exactly as given.
        String password = System.getenv("SPRING_DATA_REDIS_PASSWORD");
        String sentinelPassword = System.getenv("SPRING_DATA_REDIS_SENTINEL_PASSWORD");
        String master = env("SPRING_DATA_REDIS_SENTINEL_MASTER", "");

        LettuceClientConfiguration.LettuceClientConfigurationBuilder client =
                LettuceClientConfiguration.builder().commandTimeout(Duration.ofSeconds(5));
        if (ssl) {
            client.useSsl();
        }
        Set<String> clusterNodes = hostPorts(env("SPRING_DATA_REDIS_CLUSTER_NODES", ""));
        if (!clusterNodes.isEmpty()) {
            client.clientOptions(ClusterClientOptions.builder()
                    .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                            .enableAllAdaptiveRefreshTriggers()
                            .adaptiveRefreshTriggersTimeout(Duration.ofSeconds(1))
                            .enablePeriodicRefresh(Duration.ofSeconds(5))
                            .build())
                    .build());
            RedisClusterConfiguration cluster = new RedisClusterConfiguration(clusterNodes);
            if (password != null && !password.isEmpty()) {
                cluster.setPassword(RedisPassword.of(password));
            }
            return new LettuceConnectionFactory(cluster, client.build());
        }
        if (!master.isEmpty()) {
            Set<String> nodes = hostPorts(env("SPRING_DATA_REDIS_SENTINEL_NODES", ""));
            if (nodes.isEmpty()) {
                throw new IllegalStateException("SPRING_DATA_REDIS_SENTINEL_MASTER is set but SPRING_DATA_REDIS_SENTINEL_NODES names no host:port");
            }
            RedisSentinelConfiguration sentinels = new RedisSentinelConfiguration(master, nodes);
            if (password != null && !password.isEmpty()) {
                sentinels.setPassword(RedisPassword.of(password));
                sentinels.setSentinelPassword(RedisPassword.of(
                        sentinelPassword != null && !sentinelPassword.isEmpty() ? sentinelPassword : password));
            }
            return new LettuceConnectionFactory(sentinels, client.build());
        }
        String host = env("SPRING_DATA_REDIS_HOST", "localhost");
        int port = Integer.parseInt(env("SPRING_DATA_REDIS_PORT", "6379"));
        RedisStandaloneConfiguration server = new RedisStandaloneConfiguration(host, port);
        if (password != null && !password.isEmpty()) {
            server.setPassword(RedisPassword.of(password));
        }
        return new LettuceConnectionFactory(server, client.build());
    }
}
