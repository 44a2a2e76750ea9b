"""Pure tests of components/sessionstack/redis_config.py (no servers; tests/cluster runs them in Redis pods)."""

import re

import pytest

from sessionstack import redis_config as rc


def directives(conf: str) -> dict[str, list[str]]:
    """Directive name -> list of raw argument strings, comments and blanks dropped."""
    out: dict[str, list[str]] = {}
    for line in conf.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        out.setdefault(name.lower(), []).append(rest)
    return out


def unquote_redis_arg(arg: str) -> bytes:
    """Decode one double-quoted redis.conf argument the way Redis's parser does (subset we emit)."""
    assert arg.startswith('"') and arg.endswith('"'), arg
    body, out, i = arg[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] == "x", body
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:
            assert body[i] not in '" ', body
            out.append(ord(body[i]))
            i += 1
    return bytes(out)


def test_image_is_a_pinned_official_patch_tag():
    name, _, tag = rc.REDIS_IMAGE.partition(":")
    assert name == "redis"
    assert re.fullmatch(r"[78]\.\d+\.\d+(-bookworm)?", tag), rc.REDIS_IMAGE


def test_conf_persists_with_append_only_file_in_data_dir():
    d = directives(rc.redis_conf(256))
    assert d["appendonly"] == ["yes"]
    assert d["appendfsync"] == ["everysec"]
    assert d["dir"] == [rc.DATA_DIR]
    assert d["port"] == [str(rc.REDIS_PORT)]


def test_conf_never_evicts_sessions():
    d = directives(rc.redis_conf(100))
    assert d["maxmemory"] == ["100mb"]
    assert d["maxmemory-policy"] == ["noeviction"]


def test_conf_listens_for_pod_traffic_but_keeps_protected_mode():
    d = directives(rc.redis_conf(64))
    assert d["bind"] == ["* -::*"]
    assert d["protected-mode"] == ["yes"]


def test_conf_includes_auth_file_last_and_holds_no_password():
    conf = rc.redis_conf(64)
    d = directives(conf)
    assert "requirepass" not in d
    assert d["include"] == [f"{rc.AUTH_DIR}/{rc.SECRET_AUTH_CONF_KEY}"]
    last = [l for l in conf.splitlines() if l.strip() and not l.startswith("#")][-1]
    assert last.startswith("include ")


@pytest.mark.parametrize("password", ["simple", 'quo"te', "back\\slash", "sp ace",
                                      "t\tab\nnl", "ünï€ode", "#hash", "x" * 200])
def test_auth_conf_round_trips_any_password(password):
    d = directives(rc.auth_conf(password))
    assert list(d) == ["requirepass"]
    (arg,) = d["requirepass"]
    assert unquote_redis_arg(arg) == password.encode("utf-8")


@pytest.mark.parametrize("bad", ["", None, 123])
def test_auth_conf_rejects_empty_or_non_string(bad):
    with pytest.raises(ValueError, match="password must be a non-empty string"):
        rc.auth_conf(bad)


def test_server_args_start_from_the_mounted_conf():
    assert rc.server_args() == ["redis-server", f"{rc.CONFIG_DIR}/{rc.CONFIG_FILE}"]
    assert rc.CONFIG_PATH == "/etc/redis/redis.conf"
    assert rc.AUTH_CONF_PATH == "/etc/redis-auth/auth.conf"
    assert rc.SECRET_PASSWORD_KEY == "password"
    assert rc.SECRET_AUTH_CONF_KEY == "auth.conf"


def test_module_does_not_import_pulumi():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(rc.__file__).resolve().parents[1]
    code = "import sys, sessionstack.redis_config; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
