"""Debian's redis-server starts from the exact rendered redis.conf, auth include and args."""

import signal

import pytest

from sessionstack import redis_config as rc
from redisbox import RedisBox
from redis_resp import Resp, RedisError

PASSWORD = 'pa ss"w\\ord-ä'


@pytest.fixture
def box(tmp_path):
    b = RedisBox(tmp_path, rc.redis_conf(32), rc.auth_conf(PASSWORD)).start()
    yield b
    b.stop()


def test_starts_from_rendered_files_and_applies_them(box):
    with Resp(box.connect()) as r:
        with pytest.raises(RedisError, match="NOAUTH"):
            r.call("PING")
        with pytest.raises(RedisError, match="WRONGPASS|invalid password"):
            r.call("AUTH", "wrong")
        assert r.call("AUTH", PASSWORD) == "OK"
        assert r.call("PING") == "PONG"
        assert r.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"noeviction"]
        assert r.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", str(32 * 1024 * 1024).encode()]
        assert r.call("CONFIG", "GET", "appendonly") == [b"appendonly", b"yes"]
        assert r.call("CONFIG", "GET", "dir") == [b"dir", rc.DATA_DIR.encode()]
        assert r.call("CONFIG", "GET", "protected-mode") == [b"protected-mode", b"yes"]
    assert (box.data_dir / "appendonlydir").is_dir()


def test_refuses_to_start_without_the_auth_include(tmp_path):
    b = RedisBox(tmp_path, rc.redis_conf(32), rc.auth_conf(PASSWORD))
    (b.root / rc.AUTH_CONF_PATH.lstrip("/")).unlink()
    with pytest.raises(RuntimeError, match="exited"):
        b.start()
    assert b.stop(signal.SIGKILL) not in (None, 0)
