"""Stack settings: every key validated before anything is declared, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.settings import KEYS, Platform, RedisBackend, RoutingImplementation, SettingsError, load_settings
from sessionstack.wildfly_config import Discovery, SessionBackend

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_describe_the_cluster_less_local_stack():
    settings = load_settings({})
    assert settings.platform is Platform.LOCAL
    assert settings.wildfly.discovery is Discovery.KUBE_PING
    assert settings.wildfly.session_backend is SessionBackend.INFINISPAN
    assert settings.redis.backend is RedisBackend.KUBERNETES
    assert settings.routing.implementation is RoutingImplementation.GATEWAY_API
    assert settings.eks.stickiness_seconds == 3600


def test_redis_backend_auto_means_elasticache_on_eks_only():
    assert load_settings({"platform": "eks"}).redis.backend is RedisBackend.ELASTICACHE
    assert load_settings({"platform": "dev"}).redis.backend is RedisBackend.KUBERNETES
    assert load_settings({"platform": "eks", "redis.backend": "kubernetes"}).redis.backend is RedisBackend.KUBERNETES


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"wildfly.replicas": "two"}, "sessionstack:wildfly.replicas must be an integer from 1 to 50, got 'two'"),
        ({"wildfly.replicas": "0"}, "sessionstack:wildfly.replicas must be an integer from 1 to 50, got '0'"),
        ({"wildfly.replicas": "4", "wildfly.maxReplicas": "3"}, "sessionstack:wildfly.maxReplicas must be an integer from 4 to 100, got '3'"),
        ({"wildfly.discovery": "multicast"}, "sessionstack:wildfly.discovery must be one of 'kube_ping', 'dns_ping', got 'multicast' (Kubernetes pod networks carry no UDP multicast; use kube_ping or dns_ping)"),
        ({"wildfly.discovery": "KUBE-PING"}, "sessionstack:wildfly.discovery must be one of 'kube_ping', 'dns_ping', got 'KUBE-PING'"),
        ({"wildfly.sessionBackend": "memcached"}, "sessionstack:wildfly.sessionBackend must be one of 'infinispan', 'redis', got 'memcached'"),
        ({"wildfly.demoApp": "yes"}, "sessionstack:wildfly.demoApp must be true or false, got 'yes'"),
        ({"wildfly.image": "quay.io/wildfly/wildfly:latest"}, "sessionstack:wildfly.image must be an image pinned by tag or digest, not ':latest' or untagged, got 'quay.io/wildfly/wildfly:latest'"),
        ({"wildfly.image": "jboss/wildfly"}, "sessionstack:wildfly.image must be an image pinned by tag or digest"),
        ({"namespace": "Shop_1"}, "sessionstack:namespace must be a DNS-1123 label"),
        ({"platform": "gke"}, "sessionstack:platform must be one of 'local', 'dev', 'eks', got 'gke'"),
        ({"redis.storage": "10GB"}, "sessionstack:redis.storage must be a quantity such as 512Mi or 1Gi, got '10GB'"),
        ({"redis.backend": "elasticache", "platform": "dev"}, "sessionstack:redis.backend 'elasticache' needs platform 'eks', got platform 'dev'"),
        ({"redis.clusterPrimaries": "2"}, "sessionstack:redis.clusterPrimaries must be an integer from 3 to 16, got '2'"),
        ({"platform": "eks", "redis.mode": "standalone"}, "sessionstack:redis.mode 'standalone' has no ElastiCache counterpart"),
        ({"routing.sessionCookie": "my cookie"}, "sessionstack:routing.sessionCookie must be a cookie name"),
        ({"platform": "eks", "eks.stickinessSeconds": "604801"}, "sessionstack:eks.stickinessSeconds must be an integer from 1 to 604800, got '604801'"),
        ({"platform": "eks", "eks.vpcCidr": "8.8.0.0/16"}, "sessionstack:eks.vpcCidr must be a private IPv4 CIDR from /16 to /20, got '8.8.0.0/16'"),
        ({"platform": "dev", "eks.stickinessSeconds": "600"}, "sessionstack:eks.stickinessSeconds is a setting for platform eks only, got '600' on platform 'dev'"),
        ({"platform": "eks", "routing.installController": "true"}, "sessionstack:routing.installController is a setting for platform dev only, got 'true' on platform 'eks'"),
        ({"wildfly.sessionBackend": "redis"}, "sessionstack:wildfly.demoApp must be false when sessionstack:wildfly.sessionBackend is 'redis', got 'true'"),
        ({"routing.sessionCookie": "JSESSIONID"}, "other than the applications' JSESSIONID or SESSION, got 'JSESSIONID'"),
        ({"apache.replicas": "1"}, "sessionstack:apache.replicas must be an integer from 2 to 50, got '1'"),
        ({"wildfly.replica": "3"}, "sessionstack:wildfly.replica is not a sessionstack setting; did you mean wildfly.replicas?"),
        ({"apache.replicaz": "3", "platform": "dev"}, "sessionstack:apache.replicaz is not a sessionstack setting; did you mean apache.replicas?"),
        ({"colour": "blue"}, "sessionstack:colour is not a sessionstack setting; known keys: platform, namespace"),
        ({"platform": "dev", "routing.installController": "true", "routing.controllerChart": "http://mirror/charts"},
         "sessionstack:routing.controllerChart must be empty, a local chart path (directory or .tgz), or an oci:// or https:// address, got 'http://mirror/charts'"),
        ({"platform": "dev", "routing.controllerChart": "charts/gateway-helm"},
         "sessionstack:routing.controllerChart is used only with sessionstack:routing.installController true, got 'charts/gateway-helm'"),
        ({"platform": "eks", "routing.controllerChart": "charts/gateway-helm"}, "sessionstack:routing.controllerChart is a setting for platform dev only"),
    ],
)
def test_bad_values_stop_with_the_key_the_value_and_what_is_allowed(raw, message):
    with pytest.raises(SettingsError) as info:
        load_settings(raw)
    assert message in str(info.value)


def test_a_foreign_key_left_at_its_default_is_accepted():
    assert load_settings({"platform": "dev", "eks.stickinessSeconds": "3600"}).platform is Platform.DEV


def test_pulumi_yaml_declares_every_key_with_the_same_type_and_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == {k.name for k in KEYS}
    for key in KEYS:
        entry = declared[key.name]
        assert entry["type"] == key.type, key.name
        assert entry["default"] == key.default, key.name
        assert entry["description"] == key.description, key.name


def test_readme_lists_every_key():
    readme = (ROOT / "README.md").read_text()
    missing = [k.name for k in KEYS if f"`{k.name}`" not in readme]
    assert missing == []
