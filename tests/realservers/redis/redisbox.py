"""Run Debian's redis-server from the exact files components/sessionstack/redis_config.py renders.

The pod layout is reproduced with a private mount namespace and a chroot: redis.conf lands at
CONFIG_DIR, the auth include at AUTH_DIR and the data directory at DATA_DIR, so the server is
started with ``server_args()`` unchanged and nothing is written outside a temporary directory.
The server gets its own network namespace (``unshare --net``), or joins one given by path (the
real-servers harness's hosts), so port 6379 never collides with anything on the machine.

Needs root, util-linux (unshare, nsenter), iproute2 and redis-server; a missing one fails loudly.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from sessionstack import redis_config

CLONE_NEWNET = 0x40000000

REQUIRED_TOOLS = ("unshare", "nsenter", "ip", "chroot", "mount", "redis-server")


def require_tools() -> None:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"missing tools for the Redis real-server tests: {missing} "
                           "(apt-get install -y redis-server iproute2 util-linux)")
    if os.geteuid() != 0:
        raise RuntimeError("the Redis real-server tests need root (mount and network namespaces)")


def connect_in_netns(netns_path: str, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP socket connected from inside the network namespace at ``netns_path``.

    setns() only moves the calling thread, so a short-lived thread enters the namespace, connects
    and ends; the socket stays bound to that namespace and is usable from any thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    result: dict[str, object] = {}

    def worker() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns_path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["sock"] = socket.create_connection((host, port), timeout=timeout)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["sock"]  # type: ignore[return-value]


class RedisBox:
    """One redis-server process in a chroot laid out like the pod."""

    def __init__(self, workdir: Path, conf_text: str, auth_text: str,
                 args: list[str] | None = None, netns_path: str | None = None,
                 uid: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.conf_text = conf_text
        self.auth_text = auth_text
        self.args = list(args if args is not None else redis_config.server_args())
        self.netns_path = netns_path
        self.uid = uid
        """Run Redis as this uid/gid (the image's redis user is 999); None: root."""
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "redis.log"
        self._layout()

    def _inside(self, abs_path: str) -> Path:
        return self.root / abs_path.lstrip("/")

    def _layout(self) -> None:
        for sub in ("usr", "dev", "proc", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for link in ("bin", "lib", "lib64", "sbin"):
            target = self.root / link
            if not target.exists() and not target.is_symlink():
                target.symlink_to(f"usr/{link}")
        for node in ("null", "urandom"):
            (self.root / "dev" / node).touch()
        conf_dir = self._inside(redis_config.CONFIG_DIR)
        auth_dir = self._inside(redis_config.AUTH_DIR)
        self.data_dir = self._inside(redis_config.DATA_DIR)
        for d in (conf_dir, auth_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        (conf_dir / redis_config.CONFIG_FILE).write_text(self.conf_text)
        auth_file = auth_dir / redis_config.SECRET_AUTH_CONF_KEY
        auth_file.write_text(self.auth_text)
        auth_file.chmod(0o400)
        if self.uid is not None:
            # The Secret file is readable by the pod's user (fsGroup); the data volume is its.
            os.chown(auth_file, self.uid, self.uid)
            os.chown(self.data_dir, self.uid, self.uid)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def netns(self) -> str:
        """Path of the network namespace the server runs in."""
        return self.netns_path or f"/proc/{self.pid}/ns/net"

    def start(self, timeout: float = 15.0) -> "RedisBox":
        require_tools()
        r = str(self.root)
        setup = (
            "set -e; "
            f"mount --rbind /usr {r}/usr; "
            f"mount --bind /dev/null {r}/dev/null; "
            f"mount --bind /dev/urandom {r}/dev/urandom; "
            f"mount -t proc proc {r}/proc; "
            + ("" if self.netns_path else "ip link set lo up; ")
            + f'exec chroot {"--userspec=%d:%d " % (self.uid, self.uid) if self.uid is not None else ""}{r} "$@"'
        )
        # No --fork: unshare, sh and chroot exec in turn, so Popen's pid is redis-server's pid and
        # a signal sent to it reaches Redis itself (kill -9 in the tests means Redis dies).
        cmd = ["unshare", "--mount", "--propagation", "private"]
        if self.netns_path:
            cmd = ["nsenter", f"--net={self.netns_path}"] + cmd
        else:
            cmd.append("--net")
        cmd += ["sh", "-c", setup, "redisbox"] + self.args
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{self.log()}")
            if "Ready to accept connections" in self.log()[offset:]:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def connect(self, host: str = "127.0.0.1", port: int = redis_config.REDIS_PORT) -> socket.socket:
        return connect_in_netns(self.netns, host, port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)
