"""Pure tests of the WildFly artefacts (no Pulumi, no server).

The cluster tier (tests/cluster) runs the same artefacts in WildFly pods on a real Kubernetes;
these tests pin down the properties that must hold in the text the component deploys.
"""

from __future__ import annotations

import random
import re
import shutil
import string
import subprocess
import xml.etree.ElementTree as ET

import pytest

from sessionstack import wildfly_config as wc
from sessionstack.wildfly_config import Discovery, SessionBackend

ALL_COMBINATIONS = [(d, b) for d in Discovery for b in SessionBackend]
JAKARTA_NS = "https://jakarta.ee/xml/ns/jakartaee"


def _cli_commands(cli: str) -> list[str]:
    return [line for line in cli.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("discovery,backend", ALL_COMBINATIONS)
def test_no_artefact_binds_or_advertises_the_wildcard_address(discovery, backend):
    texts = list(wc.scripts_configmap_data(discovery, backend).values()) + wc.server_args(backend)
    for text in texts:
        assert "0.0.0.0" not in text
        assert "::0" not in text and "[::]" not in text


def test_clustered_args_bind_every_interface_to_the_pod_ip():
    args = wc.server_args(SessionBackend.INFINISPAN)
    assert args[:2] == ["-c", "standalone-ha.xml"]
    assert "-b=$(POD_IP)" in args
    assert "-bprivate=$(POD_IP)" in args
    assert "-bmanagement=$(POD_IP)" in args


def test_redis_args_use_the_non_clustered_config_without_a_private_interface():
    args = wc.server_args(SessionBackend.REDIS)
    assert args[:2] == ["-c", "standalone.xml"]
    assert not any(a.startswith("-bprivate") for a in args)
    assert "-b=$(POD_IP)" in args and "-bmanagement=$(POD_IP)" in args


def test_kube_ping_discovery_reads_namespace_and_labels_from_env_and_probes_one_port():
    cli = wc.configure_cli(Discovery.KUBE_PING, SessionBackend.INFINISPAN)
    (line,) = [c for c in _cli_commands(cli) if "KUBE_PING" in c]
    assert "/protocol=kubernetes.KUBE_PING:add(" in line
    assert 'namespace="${env.POD_NAMESPACE}"' in line
    assert 'labels="${env.KUBERNETES_LABELS}"' in line
    assert re.search(r"\bport_range=0\b", line)
    assert "DNS_PING" not in cli


def test_dns_ping_discovery_queries_the_headless_service_name_from_env():
    cli = wc.configure_cli(Discovery.DNS_PING, SessionBackend.INFINISPAN)
    (line,) = [c for c in _cli_commands(cli) if "DNS_PING" in c]
    assert "/protocol=dns.DNS_PING:add(" in line
    assert 'dns_query="${env.JGROUPS_DNS_QUERY}"' in line
    assert "KUBE_PING" not in cli


@pytest.mark.parametrize("discovery", list(Discovery))
def test_clustered_cli_replaces_multicast_and_uses_jgroups5_protocol_names(discovery):
    commands = _cli_commands(wc.configure_cli(discovery, SessionBackend.INFINISPAN))
    joined = "\n".join(commands)
    assert commands[0].startswith("embed-server --server-config=standalone-ha.xml")
    assert "/subsystem=jgroups/stack=tcp/protocol=MPING:remove()" in commands
    assert "/subsystem=jgroups/channel=ee:write-attribute(name=stack, value=tcp)" in commands
    assert "protocol=FD_SOCK2:add(" in joined
    assert "protocol=FD_ALL3:" in joined
    # JGroups 4 names that WildFly 39 (JGroups 5) no longer ships.
    for old in ("FD_SOCK:", "FD_SOCK(", "protocol=FD_ALL:", "VERIFY_SUSPECT:", "NAKACK2", "UNICAST3",
                "MERGE2", "FRAG2", "openshift.KUBE_PING"):
        assert old not in joined, old
    # The JGroups transport's socket binding stays on the pod-IP interface.
    assert "socket-binding=jgroups-tcp:write-attribute(name=interface, value=private)" in joined


@pytest.mark.parametrize("discovery", list(Discovery))
def test_cluster_secret_is_only_an_env_reference(discovery):
    cli = wc.configure_cli(discovery, SessionBackend.INFINISPAN)
    auth = [c for c in _cli_commands(cli) if "AUTH" in c]
    assert any(c.endswith("protocol=AUTH:add(add-index=8)") for c in auth)
    (token,) = [c for c in auth if "token=" in c]
    assert 'shared-secret-reference={clear-text="${env.JGROUPS_CLUSTER_PASSWORD}"}' in token
    # Every mention of the variable is inside an ${env.} expression, nowhere a literal value.
    for data in wc.scripts_configmap_data(discovery, SessionBackend.INFINISPAN).values():
        for match in re.finditer("JGROUPS_CLUSTER_PASSWORD", data):
            before = data[max(0, match.start() - 6):match.start()]
            line = data[data.rfind("\n", 0, match.start()) + 1:match.start()]
            assert before == "${env." or line.lstrip().startswith("#"), line


@pytest.mark.parametrize("owners", [1, 2, 3])
def test_web_session_cache_is_distributed_with_the_requested_owners(owners):
    cli = wc.configure_cli(Discovery.KUBE_PING, SessionBackend.INFINISPAN, cache_owners=owners)
    assert (
        "/subsystem=infinispan/cache-container=web/distributed-cache=dist:"
        f"write-attribute(name=owners, value={owners})"
    ) in _cli_commands(cli)


def test_unknown_enum_values_are_rejected():
    with pytest.raises(ValueError):
        wc.configure_cli("multicast", SessionBackend.INFINISPAN)
    with pytest.raises(ValueError):
        wc.server_args("memcached")


@pytest.mark.parametrize("discovery", list(Discovery))
def test_redis_cli_configures_standalone_without_jgroups(discovery):
    cli = wc.configure_cli(discovery, SessionBackend.REDIS)
    commands = _cli_commands(cli)
    assert commands[0].startswith("embed-server --server-config=standalone.xml")
    assert commands[-1] == "stop-embedded-server"
    assert "jgroups" not in "\n".join(commands)


@pytest.mark.parametrize("discovery,backend", ALL_COMBINATIONS)
def test_cli_batches_are_balanced_and_leave_no_placeholder(discovery, backend):
    commands = _cli_commands(wc.configure_cli(discovery, backend))
    assert commands.count("batch") == commands.count("run-batch") == 1
    assert commands.index("batch") < commands.index("run-batch")
    assert commands[-1] == "stop-embedded-server"
    assert not re.search(r"@[A-Z_]+@", "\n".join(commands))


def test_scripts_configmap_has_exactly_the_mounted_keys():
    data = wc.scripts_configmap_data(Discovery.KUBE_PING, SessionBackend.INFINISPAN)
    assert set(data) == {"start.sh", "configure.cli"}
    assert data["start.sh"] == wc.start_script()


def test_start_script_is_valid_bash_and_uses_jboss_home_and_container_args():
    script = wc.start_script()
    assert script.startswith("#!/bin/bash\n")
    assert not re.search(r"@[A-Z_]+@", script)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert '"$JBOSS_HOME/bin/jboss-cli.sh"' in script
    assert re.search(r'^exec "\$JBOSS_HOME/bin/standalone.sh" "\$@"', script, re.M)
    assert "-Dorg.wildfly.sigterm.suspend.timeout=$SUSPEND_TIMEOUT_SECONDS" in script
    assert f'SUSPEND_TIMEOUT_SECONDS:-{wc.SUSPEND_TIMEOUT_SECONDS}' in script
    assert '"-Djboss.node.name=$NODE_NAME"' in script
    assert "session-demo.war.dodeploy" in script
    assert wc.SERVER_BASE_DIR in script


def _deployment_pod_names(count: int, deployment: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated suffixes
    template_hash = "".join(rng.choice(alphabet) for _ in range(10))
    return [f"{deployment}-{template_hash}-" + "".join(rng.choice(alphabet) for _ in range(5))
            for _ in range(count)]


def test_node_name_keeps_short_pod_names():
    assert wc.node_name("wildfly-0") == "wildfly-0"
    assert wc.node_name("a" * 23) == "a" * 23


def test_node_name_is_within_23_bytes_and_unique_per_pod():
    names = _deployment_pod_names(2000, "sessionstack-wildfly", seed=7)
    nodes = [wc.node_name(n) for n in names]
    assert all(len(n.encode()) <= wc.NODE_NAME_MAX_BYTES for n in nodes)
    assert len(set(nodes)) == len(set(names))
    assert wc.node_name(names[0]) == nodes[0]  # deterministic


def test_node_name_rejects_empty():
    with pytest.raises(ValueError):
        wc.node_name("")


def test_start_script_node_name_matches_python_mirror():
    bash = shutil.which("bash")
    md5sum = shutil.which("md5sum")
    assert bash and md5sum, "bash and md5sum (coreutils) are needed to run start.sh's function"
    script = wc.start_script()
    function = re.search(r"^node_name\(\) \{\n.*?^\}\n", script, re.S | re.M).group(0)
    names = ["wildfly-0", "x" * 23, "x" * 24, "sessionstack-wi-ab-c", "abcdefghijklm--xyz-123456789"]
    names += _deployment_pod_names(20, "sessionstack-wildfly", seed=3)
    names += _deployment_pod_names(5, "wf", seed=4)
    names.append("".join(random.Random(5).choice(string.ascii_lowercase + "-") for _ in range(63)))
    program = function + "".join(f"node_name '{n}'\n" for n in names)
    out = subprocess.run([bash, "-c", program], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [wc.node_name(n) for n in names]


def test_demo_app_is_a_distributable_war_with_a_jsp():
    assert set(wc.DEMO_APP_FILES) == {"WEB-INF/web.xml", "index.jsp"}
    root = ET.fromstring(wc.DEMO_APP_FILES["WEB-INF/web.xml"])
    assert root.tag == f"{{{JAKARTA_NS}}}web-app"
    assert root.find(f"{{{JAKARTA_NS}}}distributable") is not None
    welcome = [e.text for e in root.iter(f"{{{JAKARTA_NS}}}welcome-file")]
    assert welcome == ["index.jsp"]


def test_demo_jsp_follows_the_response_protocol():
    jsp = wc.DEMO_APP_FILES["index.jsp"]
    for header in ("X-Sessionstack-Pod", "X-Sessionstack-Session", "X-Sessionstack-Counter"):
        assert f'response.setHeader("{header}"' in jsp
    assert 'System.getenv("POD_NAME")' in jsp
    assert 'System.getProperty("jboss.node.name"' in jsp
    assert 'session.setAttribute("counter"' in jsp
    assert "indexOf('.')" in jsp  # route suffix removed from the reported id


def test_demo_app_configmap_keys_are_valid_and_map_back_to_war_paths():
    data = wc.demo_app_configmap_data()
    assert set(data) == {"WEB-INF__web.xml", "index.jsp"}
    for key in data:
        assert re.fullmatch(r"[-._a-zA-Z0-9]+", key) and len(key) <= 253
    items = wc.demo_app_items()
    assert {i["key"]: i["path"] for i in items} == {
        "WEB-INF__web.xml": "WEB-INF/web.xml", "index.jsp": "index.jsp"}
    for item in items:
        assert data[item["key"]] == wc.DEMO_APP_FILES[item["path"]]


def test_shutdown_budget_covers_prestop_and_suspend():
    assert wc.PRESTOP_COMMAND[:2] == ["/bin/sh", "-c"]
    assert wc.TERMINATION_GRACE_SECONDS > wc.PRESTOP_SLEEP_SECONDS + wc.SUSPEND_TIMEOUT_SECONDS


def test_pins_match_the_team_sheet():
    assert wc.WILDFLY_IMAGE == f"quay.io/wildfly/wildfly:{wc.WILDFLY_VERSION}-jdk21"
    assert (wc.HTTP_PORT, wc.MANAGEMENT_PORT, wc.JGROUPS_PORT) == (8080, 9990, 7600)
    assert wc.DEMO_CONTEXT_PATH == "/session-demo/"


@pytest.mark.parametrize("discovery", list(Discovery))
def test_web_sessions_have_no_file_store_whose_waits_could_hang_a_session_write(discovery):
    commands = _cli_commands(wc.configure_cli(discovery, SessionBackend.INFINISPAN))
    removal = "/subsystem=infinispan/cache-container=web/distributed-cache=dist/store=file:remove()"
    assert removal in commands
    assert commands.index("batch") < commands.index(removal) < commands.index("run-batch")


@pytest.mark.parametrize("discovery", list(Discovery))
def test_replicated_sessions_run_without_the_request_controller_that_leaks_a_session_lock(discovery):
    commands = _cli_commands(wc.configure_cli(discovery, SessionBackend.INFINISPAN))
    removals = ["/subsystem=request-controller:remove()", "/extension=org.wildfly.extension.request-controller:remove()"]
    assert [commands.index(r) for r in removals] == sorted(commands.index(r) for r in removals)  # subsystem first
    assert all(commands.index("batch") < commands.index(r) < commands.index("run-batch") for r in removals)


@pytest.mark.parametrize("discovery", list(Discovery))
def test_stale_copies_of_finished_transactions_are_reaped_within_one_reaper_round(discovery):
    commands = _cli_commands(wc.configure_cli(discovery, SessionBackend.INFINISPAN))
    (line,) = [c for c in commands if "complete-timeout" in c]
    assert line == ("/subsystem=infinispan/cache-container=web/distributed-cache=dist/component=transaction"
                    ":write-attribute(name=complete-timeout, value=1000)")
    assert commands.index("batch") < commands.index(line) < commands.index("run-batch")


def test_the_redis_backend_keeps_the_request_controller():
    """Spring Session keeps Redis sessions in a filter: no WildFly session manager, nothing leaks,
    and the SIGTERM suspend still waits for the requests in flight."""
    assert "request-controller" not in wc.configure_cli(Discovery.KUBE_PING, SessionBackend.REDIS)
