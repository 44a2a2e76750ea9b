"""jgroups-advertises-pod-ip and kube-ping-needs-rbac, called with real policy arguments."""

from __future__ import annotations

import pytest

from sessionstack.wildfly_config import SessionBackend, server_args
from policy.jgroups import jgroups_advertises_pod_ip, kube_ping_needs_rbac
from policy_args import (
    K8S_TYPES,
    NS,
    POD_IP_ENV,
    UNKNOWN,
    check,
    container,
    k8s,
    meta,
    resource_args,
    service,
    stack_args,
    wildfly_container,
    workload,
)

DEPLOYMENT = K8S_TYPES["Deployment"]
KUBE_PING_ENV = [POD_IP_ENV, {"name": "JGROUPS_DISCOVERY", "value": "kube_ping"}]


def bind_check(args: list[str] | None = None, env: list[dict] | None = None, kind: str = "Deployment", **c):
    obj = workload(kind, "was", [wildfly_container(args=args, env=env, **c)])
    return check(jgroups_advertises_pod_ip, resource_args(K8S_TYPES[kind], obj, "was"))


# --------------------------------------------------------------------------------------------
# jgroups-advertises-pod-ip
# --------------------------------------------------------------------------------------------


def test_the_components_clustered_args_pass():
    outcome = bind_check(args=server_args(SessionBackend.INFINISPAN))
    assert outcome.violations == [] and outcome.not_applicable is None


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Pod"])
def test_pod_ip_from_the_downward_api_passes_for_every_workload_kind(kind):
    outcome = bind_check(["-c", "standalone-ha.xml", "-bprivate", "$(POD_IP)"], kind=kind)
    assert outcome.violations == [] and outcome.not_applicable is None


def test_wildcard_private_bind_from_the_field_report_is_a_violation():
    outcome = bind_check(["-c", "standalone-ha.xml", "-b", "0.0.0.0", "-bprivate", "0.0.0.0"])
    assert len(outcome.violations) == 1
    message = outcome.messages[0]
    assert "0.0.0.0" in message and "singleton cluster" in message
    assert "-bprivate=$(POD_IP)" in message and "status.podIP" in message
    assert outcome.violations[0][1] is None  # a resource policy: the engine attributes it to the Deployment


@pytest.mark.parametrize("value", ["::", "[::]", "0:0:0:0:0:0:0:0"])
def test_ipv6_wildcards_are_violations(value):
    outcome = bind_check(["-c", "standalone-full-ha.xml", f"-Djboss.bind.address.private={value}"])
    assert len(outcome.violations) == 1 and "wildcard" in outcome.text


def test_private_interface_left_to_its_default_is_a_violation():
    outcome = bind_check(["-c", "standalone-ha.xml", "-b", "0.0.0.0"])
    assert len(outcome.violations) == 1 and "127.0.0.1" in outcome.text and "default" in outcome.text


def test_loopback_and_fixed_addresses_are_violations():
    assert "loopback" in bind_check(["-c", "standalone-ha.xml", "-bprivate=127.0.0.1"]).text
    assert "same in every replica" in bind_check(["-c", "standalone-ha.xml", "-bprivate=10.1.2.3"]).text


def test_reference_to_an_undefined_env_var_is_a_violation():
    outcome = bind_check(["-c", "standalone-ha.xml", "-bprivate=$(MY_IP)"])
    assert len(outcome.violations) == 1 and "MY_IP" in outcome.text and "does not define" in outcome.text


def test_env_var_with_the_node_ip_is_a_violation():
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]
    outcome = bind_check(["-c", "standalone-ha.xml", "-bprivate=$(POD_IP)"], env=env)
    assert len(outcome.violations) == 1 and "status.hostIP" in outcome.text


def test_env_var_holding_the_wildcard_is_followed():
    env = [{"name": "BIND", "value": "0.0.0.0"}]
    outcome = bind_check(["-c", "standalone-ha.xml", "-bprivate=$(BIND)"], env=env)
    assert len(outcome.violations) == 1 and "0.0.0.0" in outcome.text


def test_shell_script_form_with_hostname_i_passes_and_with_wildcard_fails():
    good = ["/bin/sh", "-c", "exec /opt/jboss/wildfly/bin/standalone.sh -c standalone-ha.xml -bprivate=$(hostname -i)"]
    bad = ["/bin/sh", "-c", "exec /opt/jboss/wildfly/bin/standalone.sh -c standalone-ha.xml -bprivate 0.0.0.0"]
    assert bind_check(command=good, args=[]).violations == []
    assert len(bind_check(command=bad, args=[]).violations) == 1


def test_java_opts_system_property_counts():
    env = [POD_IP_ENV, {"name": "JAVA_OPTS", "value": "-Xmx1g -Djboss.bind.address.private=$(POD_IP)"}]
    assert bind_check(["-c", "standalone-ha.xml"], env=env).violations == []


def test_unknown_args_during_preview_are_not_reported():
    outcome = bind_check(["-c", "standalone-ha.xml", UNKNOWN])
    assert outcome.violations == []


def test_non_clustered_wildfly_and_other_workloads_are_not_applicable():
    standalone = bind_check(args=server_args(SessionBackend.REDIS))
    assert standalone.not_applicable and "-ha" in standalone.not_applicable
    nginx = workload("Deployment", "web", [container("nginx", "nginx:1.27.2", args=["-bprivate", "0.0.0.0"])])
    assert check(jgroups_advertises_pod_ip, resource_args(DEPLOYMENT, nginx, "web")).not_applicable
    svc = service("was", {"app": "was"})
    assert check(jgroups_advertises_pod_ip, resource_args(K8S_TYPES["Service"], svc, "was")).not_applicable


# --------------------------------------------------------------------------------------------
# kube-ping-needs-rbac
# --------------------------------------------------------------------------------------------


def kube_ping_stack(
    service_account: str | None = "was-jgroups",
    role_kind: str = "Role",
    binding_kind: str = "RoleBinding",
    verbs: list[str] | None = None,
    resources: list[str] | None = None,
    automount: bool | None = None,
    env: list[dict] | None = None,
    declare_role: bool = True,
    binding_namespace: str = NS,
):
    pod_spec = {}
    if service_account is not None:
        pod_spec["serviceAccountName"] = service_account
    if automount is not None:
        pod_spec["automountServiceAccountToken"] = automount
    deploy = workload("Deployment", "was", [wildfly_container(env=env if env is not None else KUBE_PING_ENV)], **pod_spec)
    items = [k8s(deploy), k8s(service("was", {"app": "was"}))]
    if service_account and service_account != "default":
        items.append(k8s({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(service_account)}))
        role_meta = meta("pod-reader") if role_kind == "Role" else {"name": "pod-reader"}
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": role_kind,
            "metadata": role_meta,
            "rules": [{"apiGroups": [""], "resources": resources or ["pods"], "verbs": verbs or ["get", "list"]}],
        }
        if declare_role:
            items.append(k8s(role))
        binding_meta = meta("pod-reader", binding_namespace) if binding_kind == "RoleBinding" else {"name": "pod-reader"}
        items.append(
            k8s(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": binding_kind,
                    "metadata": binding_meta,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": "pod-reader"},
                    "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": NS}],
                }
            )
        )
    return items


def rbac(items, **kw):
    return check(kube_ping_needs_rbac, stack_args(items, **kw))


def test_own_service_account_with_a_namespaced_pod_reader_role_passes():
    outcome = rbac(kube_ping_stack())
    assert outcome.violations == [] and outcome.not_applicable is None


@pytest.mark.parametrize("account", [None, "default"])
def test_kube_ping_on_the_default_service_account_is_a_violation(account):
    outcome = rbac(kube_ping_stack(service_account=account))
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert "default ServiceAccount" in message and "403" in message and "Role" in message
    assert urn and urn.endswith("::was")


def test_cluster_role_with_cluster_role_binding_is_a_cluster_wide_grant():
    outcome = rbac(kube_ping_stack(role_kind="ClusterRole", binding_kind="ClusterRoleBinding", verbs=["get", "list", "watch"]))
    assert len(outcome.violations) == 1
    assert "cluster-wide grant" in outcome.text and "ClusterRoleBinding pod-reader" in outcome.text
    assert outcome.violations[0][1].endswith("ClusterRoleBinding::pod-reader")


def test_cluster_role_bound_in_the_namespace_is_a_violation_too():
    outcome = rbac(kube_ping_stack(role_kind="ClusterRole"))
    assert len(outcome.violations) == 1 and "ClusterRole pod-reader" in outcome.text and "namespaced Role" in outcome.text


def test_wildcard_verbs_are_a_violation_on_the_role():
    outcome = rbac(kube_ping_stack(verbs=["*"]))
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert "wildcard verbs" in message and urn.endswith("Role::pod-reader")


def test_write_verbs_and_wildcard_resources_are_violations():
    writes = rbac(kube_ping_stack(verbs=["get", "list", "watch", "delete", "patch"]))
    assert len(writes.violations) == 1 and "write verbs ['delete', 'patch']" in writes.text
    everything = rbac(kube_ping_stack(resources=["*"]))
    assert len(everything.violations) == 1 and "wildcard resources" in everything.text


def test_role_that_cannot_list_pods_is_a_violation():
    outcome = rbac(kube_ping_stack(verbs=["get"]))
    assert len(outcome.violations) == 1 and "['list']" in outcome.text and "403" in outcome.text


def test_missing_binding_missing_role_and_binding_elsewhere_are_violations():
    assert "no RoleBinding" in rbac([i for i in kube_ping_stack() if i.props["kind"] != "RoleBinding"]).text
    assert "does not declare" in rbac(kube_ping_stack(declare_role=False)).text
    assert "no RoleBinding" in rbac(kube_ping_stack(binding_namespace="other")).text


def test_token_not_mounted_is_a_violation():
    outcome = rbac(kube_ping_stack(automount=False))
    assert len(outcome.violations) == 1 and "automountServiceAccountToken false" in outcome.text


def test_kube_ping_named_in_the_command_line_is_detected():
    env = [POD_IP_ENV]
    items = kube_ping_stack(service_account=None, env=env)
    items[0].props["spec"]["template"]["spec"]["containers"][0]["args"] += ["-Djgroups.discovery=kubernetes.KUBE_PING"]
    assert len(rbac(items).violations) == 1


def test_dns_ping_and_no_wildfly_are_not_applicable():
    env = [POD_IP_ENV, {"name": "JGROUPS_DISCOVERY", "value": "dns_ping"}]
    assert rbac(kube_ping_stack(service_account=None, env=env)).not_applicable
    nginx = workload("Deployment", "web", [container("nginx", "nginx:1.27.2")])
    assert rbac([k8s(nginx)]).not_applicable == "no workload uses KUBE_PING"
