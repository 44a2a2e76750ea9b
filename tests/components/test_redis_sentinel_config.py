"""Pure tests of components/sessionstack/redis_sentinel_config.py: the sentinel mode's files, as
rendered (tests/cluster/test_redis_stack.py runs them in real pods)."""

import re
import subprocess
import sys

import pytest

from posix_sh import assert_filled_posix_sh

from sessionstack import redis_config as rc
from sessionstack import redis_sentinel_config as sc

LAYOUT = sc.SentinelLayout(master_name="sessions", pods=5, client_service="sessions")


def directives(conf: str) -> list[list[str]]:
    return [line.split() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_quorum_is_a_majority_of_the_sentinels():
    assert [sc.SentinelLayout("s", pods, "s").quorum for pods in (3, 5, 7, 9)] == [2, 3, 4, 5]
    assert ["sentinel", "monitor", "sessions", "__PRIMARY_HOST__", "6379", "3"] in directives(sc.sentinel_conf(LAYOUT))


def test_sentinel_conf_names_instances_by_host_name_and_leaves_only_the_pod_names_to_fill():
    conf = sc.sentinel_conf(LAYOUT)
    lines = directives(conf)
    for wanted in (["sentinel", "resolve-hostnames", "yes"], ["sentinel", "announce-hostnames", "yes"],
                   ["sentinel", "down-after-milliseconds", "sessions", str(sc.DOWN_AFTER_MS)], ["port", "26379"]):
        assert wanted in lines, wanted
    # resolve-hostnames must come before the first host name Sentinel reads.
    assert conf.index("resolve-hostnames") < conf.index("sentinel monitor")
    assert set(re.findall(r"__[A-Z_]+__", conf)) == {"__PRIMARY_HOST__", "__ANNOUNCE_HOST__"}
    assert "requirepass" not in conf and "auth-pass" not in conf


def test_replication_lines_bound_writes_to_a_primary_that_lost_its_replicas():
    conf = rc.redis_conf(256, sc.replication_conf())
    lines = directives(conf)
    assert ["min-replicas-to-write", "1"] in lines and ["min-replicas-max-lag", str(sc.MIN_REPLICAS_MAX_LAG_S)] in lines
    assert ["repl-diskless-sync-delay", "0"] in lines
    # Still nothing after the auth include.
    assert lines[-1] == ["include", rc.AUTH_CONF_PATH]


@pytest.mark.parametrize("password", ["plain", 'q"uote\\ and space', "ünïcode\x01"])
def test_sentinel_auth_lines_carry_the_password_quoted_like_redis_conf(password):
    text = sc.sentinel_auth_conf(password, "sessions")
    quoted = rc.quote_password(password)
    assert f"requirepass {quoted}\n" in text
    assert f"sentinel sentinel-pass {quoted}\n" in text
    assert f"sentinel auth-pass sessions {quoted}\n" in text


def test_replicas_authenticate_to_the_primary_with_the_same_password():
    assert "masterauth \"s3cret\"" in rc.auth_conf("s3cret", replicated=True)
    assert "masterauth" not in rc.auth_conf("s3cret")


def test_every_script_is_filled_and_valid_posix_sh():
    scripts = sc.scripts(LAYOUT)
    assert set(scripts) == set(sc.SCRIPTS)
    assert_filled_posix_sh(scripts)


def test_scripts_address_pods_by_their_own_services_and_know_the_set():
    lib = sc.scripts(LAYOUT)["sentinel-lib.sh"]
    assert 'DOMAIN="$POD_NAMESPACE.svc.cluster.local"' in lib and "PODS=5" in lib and "MASTER_NAME=sessions" in lib
    assert LAYOUT.pod_address(3) == "sessions-3"
    assert rc.start_command("start-redis.sh") == ["sh", f"{rc.CONFIG_DIR}/start-redis.sh"]


def _run_lib(tmp_path, function: str, *answers: str) -> str:
    """``function`` of sentinel-lib.sh with redis-cli replaced by a stub that answers, call by
    call, what ``answers`` says (in the order the lib asks; "|" stands for a line break), or
    nothing. (Each call runs in a subshell, so the stub counts its calls in a file.)"""
    lib = sc.scripts(LAYOUT)["sentinel-lib.sh"]
    (tmp_path / "answers").write_text("".join(f"{a}\n" for a in answers))
    (tmp_path / "calls").write_text("0")
    stub = f'''
cli() {{
    n=$(( $(cat {tmp_path}/calls) + 1 )); echo "$n" > {tmp_path}/calls
    sed -n "${{n}}p" {tmp_path}/answers | tr '|' '\\n'
}}
'''
    script = "POD_NAME=sessions-1; POD_NAMESPACE=shop; REDIS_PASSWORD=x\n" + lib + "\n" + stub + function + "\n"
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_primary_is_what_most_sentinels_name_not_the_first_answer(tmp_path):
    a, b = "sessions-0.shop.svc.cluster.local", "sessions-2.shop.svc.cluster.local"
    # 7 hosts asked (the Service twice, 5 pods): a stale answer first, then the majority.
    assert _run_lib(tmp_path, "sentinels_primary", a, b, b, "", b, "ERR no such master", a) == b
    assert _run_lib(tmp_path, "sentinels_primary") == ""


def test_answers_from_outside_the_namespace_are_ignored(tmp_path):
    assert _run_lib(tmp_path, "sentinels_primary", "evil.example.com", "sessions-0.other.svc.cluster.local") == ""


def test_a_leaving_primary_waits_for_any_sentinel_to_name_another(tmp_path):
    me, other = "sessions-1.shop.svc.cluster.local", "sessions-2.shop.svc.cluster.local"
    assert _run_lib(tmp_path, 'wait_primary_is_not "$ME" 5', me, me, "", me, other) == other


def test_module_does_not_import_pulumi():
    from pathlib import Path

    root = Path(sc.__file__).resolve().parents[1]
    code = "import sys, sessionstack.redis_sentinel_config; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_restarted_primary_waits_until_no_sentinel_names_it(tmp_path):
    me, other = "sessions-1.shop.svc.cluster.local", "sessions-2.shop.svc.cluster.local"
    # 5 Sentinels asked per round: one still names this pod, then all but one silent name the other.
    answers = [other, me, other, other, ""] + [other, other, other, "", ""]
    assert _run_lib(tmp_path, 'wait_all_name_other_than "$ME" 5 && echo done', *answers) == "done"
    assert (tmp_path / "calls").read_text().strip() == "10"
    # A minority naming the other is not enough.
    assert _run_lib(tmp_path, 'wait_all_name_other_than "$ME" 2 || echo timeout', other, "", "", "", "") == "timeout"


def test_a_replica_is_ready_only_once_every_sentinel_that_answers_knows_it(tmp_path):
    me = "sessions-1.shop.svc.cluster.local:6379"
    other = "sessions-2.shop.svc.cluster.local:6379"
    listing = lambda *names: "|".join(line for n in names for line in ("name", n, "flags", "slave"))  # noqa: E731
    # 5 Sentinels: one silent (its pod is being replaced), one not monitoring yet, the rest list it.
    known = [listing(other, me), "", "ERR No such master with that name", listing(me), listing(me, other)]
    assert _run_lib(tmp_path, "known_to_every_sentinel && echo ready", *known) == "ready"
    # One Sentinel that lists only the other replica (it has not read the primary's INFO since).
    assert _run_lib(tmp_path, "known_to_every_sentinel || echo not-ready", listing(me), listing(other)) == "not-ready"
