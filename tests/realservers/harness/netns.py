"""Linux network namespaces as "pods": one namespace, one veth, one address each, on a bridge.

A :class:`Network` owns a bridge in the root namespace that carries a private /24 (default
10.244.<64..127>.0/24, first free one). The bridge itself has the ``.1`` address: it plays the
node, where the test client, the Kubernetes API stand-in and DNS stand-in listen. Each
:class:`Host` is a namespace with loopback and one interface ``eth0`` with its own address and
no default route, so its processes can reach only the bridge subnet: a process that advertises
0.0.0.0 really cannot be reached by its peers, and nothing leaves the machine.

Every name starts with a unique prefix (``ss`` + 4 hex digits). The prefix is recorded under
/run/sessionstack-netns/ with the owning pid; a later Network removes what dead owners left
behind, so a crashed or killed test run is cleaned up by the next one. ``close()`` (also at
interpreter exit) kills every process left in the namespaces and removes them and the bridge.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = Path("/run/sessionstack-netns")
SUBNET_POOL = ipaddress.ip_network("10.244.64.0/18")
"""/24s are taken from here (10.244.64.0 - 10.244.127.255); never routed off the machine."""
FIRST_HOST_OCTET = 10

_lock = threading.Lock()


class HarnessError(RuntimeError):
    """A prerequisite is missing or the kernel refused a namespace operation."""


def require_root_and_tools(*extra: str) -> None:
    """Raise HarnessError naming what is missing (root, ip, setpriv, ``extra`` commands)."""
    if os.geteuid() != 0:
        raise HarnessError("the real-server harness needs root (network namespaces, veth, bridge)")
    missing = [t for t in ("ip", "setpriv", *extra) if shutil.which(t) is None]
    if missing:
        raise HarnessError(f"missing commands {missing}: run tests/realservers/setup.sh")


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str) -> None:
    result = _ip("netns", "pids", ns, check=False)
    for word in result.stdout.split():
        try:
            os.kill(int(word), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _remove_everything(prefix: str, namespaces: list[str], bridge: str) -> None:
    for ns in namespaces:
        if Path(f"/run/netns/{ns}").exists():
            _kill_namespace_processes(ns)
    deadline = time.monotonic() + 5
    for ns in namespaces:
        while Path(f"/run/netns/{ns}").exists():
            # Deleting the namespace also deletes the veth pair.
            if _ip("netns", "del", ns, check=False).returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    _ip("link", "del", bridge, check=False)
    for ns in namespaces:
        # Per-namespace /etc overrides (resolv.conf for the DNS stand-in).
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
    # Host-side veth ends whose peer namespace disappeared are gone with it; any leftover
    # link with our prefix (a half-created pair) goes too.
    links = _ip("-o", "link", "show", check=False).stdout
    for line in links.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefix):
                _ip("link", "del", name, check=False)


def cleanup_stale() -> list[str]:
    """Remove the namespaces and bridges of Networks whose owning process is gone."""
    removed = []
    if not STATE_DIR.is_dir():
        return removed
    for state_file in STATE_DIR.glob("*.json"):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(int(state.get("pid", 0))):
            continue
        _remove_everything(state["prefix"], state.get("namespaces", []), state["bridge"])
        state_file.unlink(missing_ok=True)
        removed.append(state["prefix"])
    return removed


def _subnets_in_use() -> set[ipaddress.IPv4Network]:
    used: set[ipaddress.IPv4Network] = set()
    for line in _ip("-4", "-o", "addr", "show", check=False).stdout.splitlines():
        words = line.split()
        if "inet" in words:
            used.add(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show", check=False).stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first and first != "default":
            try:
                used.add(ipaddress.ip_network(first, strict=False))
            except ValueError:
                pass
    if STATE_DIR.is_dir():
        for state_file in STATE_DIR.glob("*.json"):
            try:
                used.add(ipaddress.ip_network(json.loads(state_file.read_text())["subnet"]))
            except (OSError, ValueError, KeyError):
                pass
    return used


@dataclass
class Host:
    """One network namespace with one address: what a pod's network looks like."""

    name: str
    """Logical name given by the caller (e.g. the pod name)."""
    ns: str
    """Namespace name (``ip netns``); the namespace file is :attr:`netns_path`."""
    ip: str
    network: "Network" = field(repr=False)

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.ns}"

    def command(self, argv: list[str], *, uid: int | None = None, gid: int | None = None) -> list[str]:
        """``argv`` wrapped to run inside this namespace (optionally as ``uid``/``gid``)."""
        prefix = ["ip", "netns", "exec", self.ns]
        if uid is not None:
            g = uid if gid is None else gid
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={g}", "--clear-groups"]
        return prefix + list(argv)

    def popen(self, argv: list[str], *, env: dict[str, str], log_path: Path,
              uid: int | None = None, gid: int | None = None, cwd: str | None = None) -> subprocess.Popen:
        """Start ``argv`` in this namespace with exactly ``env``; stdout+stderr go to ``log_path``.

        The process leads a new session (own process group), so :func:`kill_group` reaches
        its children; ``ip netns exec`` execs, so the returned pid is the program itself.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab", buffering=0) as log:
            if uid is not None:
                # Servers that reopen /proc/self/fd/1 or 2 (httpd) need the file to be theirs.
                os.chown(log_path, uid, uid if gid is None else gid)
            return subprocess.Popen(self.command(argv, uid=uid, gid=gid), env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=cwd, start_new_session=True)

    def run(self, argv: list[str], timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout, **kwargs)

    def set_link(self, up: bool) -> None:
        """Cut (or restore) this host's cable: packets stop without any RST, like a lost node."""
        self.network.set_link(self, up)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the whole process group of ``proc`` (what a container kill does)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Network:
    """A bridge with a private /24 and the hosts (namespaces) attached to it.

    Usage::

        with Network() as net:
            a = net.add_host("wildfly-a")       # a.ip == "10.244.N.10", a.ns, a.netns_path
            proc = a.popen([...], env={...}, log_path=Path("a.log"))
            net.host_ip                         # the bridge (node) address, e.g. 10.244.N.1
    """

    def __init__(self, subnet: str | None = None) -> None:
        require_root_and_tools()
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        cleanup_stale()
        self.prefix = "ss" + secrets.token_hex(2)
        self.bridge = f"{self.prefix}-br"
        self.hosts: dict[str, Host] = {}
        self._next_octet = FIRST_HOST_OCTET
        self._namespaces: list[str] = []
        self._closed = False
        with _lock:
            self.subnet = self._pick_subnet(subnet)
            self._state_file = STATE_DIR / f"{self.prefix}.json"
            self._save_state()
        self.host_ip = str(self.subnet.network_address + 1)
        atexit.register(self.close)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.host_ip}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except Exception:
            self.close()
            raise

    def _pick_subnet(self, wanted: str | None) -> ipaddress.IPv4Network:
        used = _subnets_in_use()
        if wanted:
            net = ipaddress.ip_network(wanted)
            if any(net.overlaps(u) for u in used):
                raise HarnessError(f"subnet {net} overlaps one in use on this machine")
            return net
        for net in SUBNET_POOL.subnets(new_prefix=24):
            if not any(net.overlaps(u) for u in used):
                return net
        raise HarnessError(f"no free /24 left in {SUBNET_POOL}")

    def _save_state(self) -> None:
        self._state_file.write_text(json.dumps({
            "pid": os.getpid(), "prefix": self.prefix, "bridge": self.bridge,
            "subnet": str(self.subnet), "namespaces": self._namespaces,
        }))

    def add_host(self, name: str) -> Host:
        """Create a namespace with the next free address of the subnet."""
        if self._closed:
            raise HarnessError("network is closed")
        octet = self._next_octet
        if octet > 254:
            raise HarnessError("subnet exhausted")
        self._next_octet += 1
        ns = f"{self.prefix}-h{octet}"
        veth_host, veth_ns = f"{self.prefix}-v{octet}", f"{self.prefix}-p{octet}"
        ip = str(self.subnet.network_address + octet)
        with _lock:
            self._namespaces.append(ns)
            self._save_state()
        _ip("netns", "add", ns)
        _ip("link", "add", veth_host, "type", "veth", "peer", "name", veth_ns)
        _ip("link", "set", veth_ns, "netns", ns)
        _ip("link", "set", veth_host, "master", self.bridge)
        _ip("link", "set", veth_host, "up")
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "set", veth_ns, "name", "eth0", ns=ns)
        _ip("addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        host = Host(name=name, ns=ns, ip=ip, network=self)
        self.hosts[name] = host
        return host

    def set_link(self, host: Host, up: bool) -> None:
        octet = int(host.ip.rsplit(".", 1)[1])
        _ip("link", "set", f"{self.prefix}-v{octet}", "up" if up else "down")

    def remove_host(self, host: Host) -> None:
        """Kill what still runs in the namespace and delete it (and its veth)."""
        _kill_namespace_processes(host.ns)
        _ip("netns", "del", host.ns, check=False)
        shutil.rmtree(f"/etc/netns/{host.ns}", ignore_errors=True)
        self.hosts.pop(host.name, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _remove_everything(self.prefix, list(self._namespaces), self.bridge)
        self._state_file.unlink(missing_ok=True)

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
