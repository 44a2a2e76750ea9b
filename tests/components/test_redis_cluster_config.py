"""Pure tests of components/sessionstack/redis_cluster_config.py: the cluster mode's files, as
rendered, their scripts run by sh against a stand-in redis-cli (tests/cluster/test_redis_cluster.py
runs them in real pods)."""

import subprocess
import sys
from pathlib import Path

import pytest

from posix_sh import assert_filled_posix_sh

from sessionstack import redis_cluster_config as cc
from sessionstack import redis_config as rc

LAYOUT = cc.ClusterLayout(statefulset="sessions", primaries=3)


def directives(conf: str) -> list[list[str]]:
    return [line.split() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_cluster_lines_keep_the_node_identity_on_the_volume_and_redirect_by_host_name():
    lines = directives(rc.redis_conf(256, cc.cluster_conf(3)))
    for wanted in (["cluster-enabled", "yes"], ["cluster-config-file", "/data/nodes.conf"], ["cluster-node-timeout", str(cc.NODE_TIMEOUT_MS)],
                   ["cluster-preferred-endpoint-type", "hostname"], ["cluster-require-full-coverage", "no"]):
        assert wanted in lines, wanted
    # The announced name and address are the pod's, filled in by start-cluster.sh, never here.
    assert not any(line[0].startswith("cluster-announce") for line in lines)
    assert lines[-1] == ["include", rc.AUTH_CONF_PATH]


def test_every_script_is_filled_and_valid_posix_sh():
    scripts = cc.scripts(LAYOUT)
    assert set(scripts) == set(cc.SCRIPTS)
    assert_filled_posix_sh(scripts)
    assert LAYOUT.pods == 6 and LAYOUT.pod_address(5) == "sessions-5"


# A stand-in redis-cli: logs its arguments, answers from a state file the test sets. Node i's own
# Service resolves (stand-in getent) to 10.96.0.1<i>; sleep returns at once.
REDIS_CLI = r"""#!/bin/sh
echo "$*" >> "$T/calls"
state=$(cat "$T/state")
case "$*" in
    *"--cluster create"*)
        [ "$state" = dirty ] && { echo "[ERR] Node 10.96.0.10:6379 is not empty."; exit 1; }
        echo formed > "$T/state"; echo "[OK] All 16384 slots covered." ;;
    *" ping") echo PONG ;;
    *"cluster info")
        case "$state" in
            formed) printf 'cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n' ;;
            partial) printf 'cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:5\r\n' ;;
            *) printf 'cluster_state:fail\r\ncluster_slots_assigned:0\r\ncluster_known_nodes:1\r\n' ;;
        esac ;;
    *" role") [ "$state" = handed ] && echo slave || echo master ;;
    *"cluster myid") echo abc ;;
    *"cluster replicas abc") cat "$T/replicas" ;;
    *"cluster failover") echo OK; echo handed > "$T/state" ;;
    *"info errorstats")
        # MOVED answered so far: the next line of $T/moved at each call, its last line from then on.
        printf '# Errorstats\r\n'
        [ -s "$T/moved" ] || exit 0
        printf 'errorstat_MOVED:count=%s\r\n' "$(head -n 1 "$T/moved")"
        [ "$(wc -l < "$T/moved")" -gt 1 ] && sed -i 1d "$T/moved" ;;
    *"info replication") printf '# Replication\r\nrole:%s\r\nmaster_link_status:%s\r\n' "$(cat "$T/role")" "$(cat "$T/link")" ;;
esac
"""
GETENT = r"""#!/bin/sh
ordinal=${2%%.*}; ordinal=${ordinal##*-}
echo "10.96.0.1$ordinal $2"
"""


def _run(tmp_path: Path, script: str, state: str, **files: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("redis-cli", REDIS_CLI), ("getent", GETENT), ("sleep", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "state").write_text(state)
    (tmp_path / "calls").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    rendered = cc.scripts(LAYOUT)
    (tmp_path / "cluster-lib.sh").write_text(rendered["cluster-lib.sh"])
    text = rendered[script].replace(f"{rc.CONFIG_DIR}/cluster-lib.sh", str(tmp_path / "cluster-lib.sh"))
    # The pre-stop hook writes to the container's log (PID 1's stdout); here to stderr.
    text = text.replace("exec > /proc/1/fd/1 2>&1", "exec 1>&2")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "T": str(tmp_path), "POD_NAME": "sessions-2", "POD_NAMESPACE": "shop", "REDIS_PASSWORD": "pw"}
    done = subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=env, timeout=60)
    return done, (tmp_path / "calls").read_text().splitlines()


def test_bootstrap_joins_nodes_that_never_joined_by_their_services_addresses(tmp_path):
    done, calls = _run(tmp_path, "bootstrap-cluster.sh", "empty")
    assert done.returncode == 0, done.stderr
    (create,) = [c for c in calls if "--cluster create" in c]
    assert create.split("create ")[1].split(" --")[0].split() == [f"10.96.0.1{i}:6379" for i in range(6)]
    assert "--cluster-replicas 1" in create and "pw" not in create
    assert "the cluster is formed" in done.stderr


def test_bootstrap_run_again_leaves_a_formed_cluster_alone(tmp_path):
    done, calls = _run(tmp_path, "bootstrap-cluster.sh", "formed")
    assert done.returncode == 0, done.stderr
    assert not [c for c in calls if "--cluster create" in c] and "nothing to do" in done.stderr


def test_bootstrap_never_creates_over_a_partly_formed_cluster_and_fails_with_what_to_run(tmp_path):
    done, calls = _run(tmp_path, "bootstrap-cluster.sh", "partial")
    assert done.returncode == 1
    assert not [c for c in calls if "--cluster create" in c]
    assert "redis-cli --cluster check sessions-0.shop.svc.cluster.local:6379" in done.stderr


def test_bootstrap_over_a_node_that_holds_keys_fails_saying_why(tmp_path):
    done, _ = _run(tmp_path, "bootstrap-cluster.sh", "dirty")
    assert done.returncode == 1 and "cannot join a cluster" in done.stderr


REPLICA = "f2 10.96.0.14:6379@16379,sessions-4.shop.svc.cluster.local slave abc 0 0 3 connected\n"


def test_a_leaving_primary_asks_its_healthy_replica_to_take_over_and_waits_until_it_has(tmp_path):
    replicas = "f1 10.96.0.15:6379@16379,sessions-5.shop.svc.cluster.local slave,fail abc 0 0 3 disconnected\n" + REPLICA
    done, calls = _run(tmp_path, "cluster-pre-stop.sh", "primary", replicas=replicas)
    assert done.returncode == 0, done.stderr
    assert "-h sessions-4.shop.svc.cluster.local -p 6379 cluster failover" in [c.split("--no-auth-warning ")[1] for c in calls if "failover" in c]
    assert "handed over to sessions-4" in done.stderr


def test_after_the_handover_the_old_primary_stops_once_no_client_was_redirected_for_a_while(tmp_path):
    # 0 before the handover; clients then get MOVED (3, 9, 12 in all) until they renew their view.
    moved = "0\n3\n9\n12\n"
    done, calls = _run(tmp_path, "cluster-pre-stop.sh", "primary", replicas=REPLICA, moved=moved)
    assert done.returncode == 0, done.stderr
    assert f"clients moved on: 12 redirects answered, none in the last {cc.QUIET_S} s" in done.stderr
    # Every half second: until the count stood still for QUIET_S (and not a poll more).
    polls = [c for c in calls if c.endswith("info errorstats")]
    assert len(polls) == 1 + 3 + cc.QUIET_S * 2


def test_the_wait_for_clients_is_bounded_when_they_keep_being_redirected(tmp_path):
    moved = "".join(f"{n}\n" for n in range(0, 1000, 5))
    done, calls = _run(tmp_path, "cluster-pre-stop.sh", "primary", replicas=REPLICA, moved=moved)
    assert done.returncode == 0, done.stderr
    assert f"clients still redirected here after {cc.DRAIN_WAIT_S} s" in done.stderr
    assert len([c for c in calls if c.endswith("info errorstats")]) == 1 + cc.DRAIN_WAIT_S * 2


def test_a_leaving_replica_or_a_primary_without_replica_just_stops(tmp_path):
    done, calls = _run(tmp_path, "cluster-pre-stop.sh", "handed")
    assert done.returncode == 0 and not [c for c in calls if "failover" in c]
    done, calls = _run(tmp_path, "cluster-pre-stop.sh", "primary", replicas="")
    assert done.returncode == 0 and not [c for c in calls if "failover" in c] and "without a handover" in done.stderr


@pytest.mark.parametrize(("state", "role", "link", "ready"), [
    ("formed", "master", "", True),
    ("formed", "slave", "up", True),
    ("formed", "slave", "down", False),
    ("empty", "master", "", False),
])
def test_a_node_is_ready_when_the_cluster_serves_and_a_replica_is_in_sync(tmp_path, state, role, link, ready):
    done, _ = _run(tmp_path, "cluster-ready.sh", state, role=role, link=link)
    assert (done.returncode == 0) is ready, done.stderr


def test_module_does_not_import_pulumi():
    root = Path(cc.__file__).resolve().parents[1]
    code = "import sys, sessionstack.redis_cluster_config; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
