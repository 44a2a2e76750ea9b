"""What the node changes on the host, and how each change is undone.

Every change is recorded in the state dir before it is made, so `stop` undoes exactly what
`start` did, even after a crash: the network namespace and its veth (and /run/netns, when start made it), the cgroup dirs below the
kubelet's cgroup root, the mount points it had to create, the global sysctls the kubelet sets
(saved before, restored after), and every process (by PID and start time; plus anything still
inside the node's namespaces or cgroups, which only the node's own programs can have started).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from onenode.config import CGROUP_ROOT, Node

CGROUP_FS = Path("/sys/fs/cgroup")
KUBELET_SYSCTLS = (
    # The kubelet sets these at start (pkg/kubelet/cm, setupKernelTunables) unless
    # protectKernelDefaults, which makes it refuse to start instead. They are global.
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)


def sh(*cmd: str, check: bool = True, capture: bool = False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=capture, **kw)


class Record:
    """The state dir's record of host changes (created.json)."""

    def __init__(self, node: Node) -> None:
        self.path = node.path("created.json")
        self.data: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def add(self, key: str, value) -> None:
        self.data.setdefault(key, [])
        if value not in self.data[key]:
            self.data[key].append(value)
        self.save()

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


# --- network ------------------------------------------------------------------------------------

RUN_NETNS = Path("/run/netns")


def netns_path(node: Node) -> Path:
    return RUN_NETNS / node.netns


def create_network(node: Node, record: Record) -> None:
    """The node's network namespace, linked to the host by one veth pair and nothing else."""
    if netns_path(node).exists():
        raise RuntimeError(f"network namespace {node.netns} exists already (another node running? `tools/cluster/stop` removes it)")
    if Path(f"/sys/class/net/{node.host_if}").exists():
        raise RuntimeError(f"interface {node.host_if} exists already")
    clash = sh("ip", "-4", "route", "show", "match", node.link, capture=True).stdout.strip()
    if any(line and not line.startswith("default") for line in clash.splitlines()):
        raise RuntimeError(f"the host already routes {node.link}: {clash}")
    # `ip netns add` makes /run/netns a mount point (a shared bind mount on itself) the first time
    # it runs on a host; stop gives that back too when this start made it.
    if "run_netns" not in record.data:
        record.set("run_netns", {"existed": RUN_NETNS.exists(), "mounted": is_mount_point(RUN_NETNS)})
    record.set("netns", node.netns)
    sh("ip", "netns", "add", node.netns)
    record.set("host_if", node.host_if)
    sh("ip", "link", "add", node.host_if, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    # The host end speaks IPv4 only: no router solicitations or DAD on the new link.
    Path(f"/proc/sys/net/ipv6/conf/{node.host_if}/disable_ipv6").write_text("1")
    sh("ip", "addr", "add", f"{node.host_ip}/{node.prefix}", "dev", node.host_if)
    sh("ip", "link", "set", node.host_if, "up")
    inside = ("ip", "netns", "exec", node.netns)
    sh(*inside, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    sh(*inside, "ip", "addr", "add", f"{node.node_ip}/{node.prefix}", "dev", "eth0")
    sh(*inside, "ip", "link", "set", "lo", "up")
    sh(*inside, "ip", "link", "set", "eth0", "up")
    # Per-namespace: the node routes between its pods (ptp) and NATs Services; no default route.
    sh(*inside, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")


def is_mount_point(path: Path) -> bool:
    return str(path) in {line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()}


def delete_network(record: Record) -> None:
    netns = record.data.get("netns")
    if netns and (RUN_NETNS / netns).exists():
        sh("ip", "netns", "delete", netns, check=False)
    host_if = record.data.get("host_if")
    if host_if and Path(f"/sys/class/net/{host_if}").exists():
        sh("ip", "link", "delete", host_if, check=False)
    before = record.data.get("run_netns")
    if before and RUN_NETNS.is_dir() and not any(RUN_NETNS.iterdir()):  # no other namespace lives there
        while not before["mounted"] and is_mount_point(RUN_NETNS):
            sh("umount", str(RUN_NETNS))
        if not before["existed"]:
            RUN_NETNS.rmdir()


# --- sysctls ------------------------------------------------------------------------------------

def read_sysctl(key: str) -> str:
    return Path("/proc/sys", *key.split(".")).read_text().strip()


def save_sysctls(record: Record) -> None:
    if "sysctls" not in record.data:  # a second start keeps the first values
        record.set("sysctls", {key: read_sysctl(key) for key in KUBELET_SYSCTLS})


def restore_sysctls(record: Record) -> dict[str, tuple[str, str]]:
    """Put back every saved value; returns {key: (was, restored)} for the ones that had changed."""
    changed = {}
    for key, value in record.data.get("sysctls", {}).items():
        now = read_sysctl(key)
        if now != value:
            Path("/proc/sys", *key.split(".")).write_text(value)
            changed[key] = (now, value)
    return changed


# --- cgroups ------------------------------------------------------------------------------------

def cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, named ones, the unified one)."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, target, fstype = line.split()[:3]
        if fstype in ("cgroup", "cgroup2") and target.startswith(str(CGROUP_FS)):
            out.append(Path(target))
    return out


def create_cgroup_root(record: Record) -> None:
    for hierarchy in cgroup_hierarchies():
        d = hierarchy / CGROUP_ROOT.lstrip("/")
        if not d.exists():
            record.add("cgroups", str(d))
            d.mkdir()


def cgroup_pids(record: Record) -> set[int]:
    pids = set()
    for root in record.data.get("cgroups", []):
        for base, _dirs, files in os.walk(root):
            if "cgroup.procs" in files:
                try:
                    pids |= {int(p) for p in Path(base, "cgroup.procs").read_text().split()}
                except OSError:
                    pass
    return pids


def remove_cgroups(record: Record) -> list[str]:
    """rmdir every cgroup below the recorded roots, deepest first; returns what would not go."""
    left = []
    for root in record.data.get("cgroups", []):
        if not os.path.isdir(root):
            continue
        for base, _dirs, _files in sorted(os.walk(root), key=lambda t: -t[0].count("/")):
            for attempt in range(50):
                try:
                    os.rmdir(base)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                left.append(base)
    return left


# --- mount points -------------------------------------------------------------------------------

def ensure_mountpoints(node: Node, record: Record) -> None:
    """The node binds its state dirs over fixed paths; create the ones the host lacks (recorded)."""
    for target in node.binds():
        p = Path(target)
        if not p.exists():
            missing = []
            q = p
            while not q.exists():
                missing.append(str(q))
                q = q.parent
            p.mkdir(parents=True)
            for m in missing:
                record.add("mountpoints", m)


def remove_mountpoints(record: Record) -> list[str]:
    left = []
    for m in sorted(record.data.get("mountpoints", []), key=len, reverse=True):
        try:
            os.rmdir(m)
        except FileNotFoundError:
            pass
        except OSError:
            left.append(m)
    return left


# --- processes ----------------------------------------------------------------------------------

def start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (with its PID, a unique identity)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


HOLDER_SCRIPT = """set -e
# The node's mount namespace (private to it): containerd's and the kubelet's mounts stay here.
mount --make-rshared /
mount -t tmpfs -o mode=0755,size=256m sessionstack-node-run /run
mkdir -p /run/netns /run/lock /run/containerd
{binds}
echo ready
exec sleep infinity
"""


def start_holder(node: Node, record: Record) -> int:
    """The process that holds the node's mount namespace (inside its network namespace)."""
    binds = "\n".join(f"mount --bind '{src}' '{dst}'" for dst, src in node.binds().items())
    log = node.path("logs/holder.log").open("ab")
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "nsenter", f"--net={netns_path(node)}", "--", "sh", "-c", HOLDER_SCRIPT.format(binds=binds)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    remember(node, record, "holder", proc.pid)
    line = proc.stdout.readline().decode().strip() if proc.stdout else ""
    if line != "ready":
        raise RuntimeError(f"the node's mount namespace did not come up (see {node.path('logs/holder.log')})")
    record.set("mnt_ns", ns_inode(proc.pid, "mnt"))
    record.set("net_ns", ns_inode(proc.pid, "net"))
    return proc.pid


def remember(node: Node, record: Record, name: str, pid: int) -> None:
    node.path("pids", f"{name}.pid").write_text(f"{pid}\n")
    record.add("processes", {"name": name, "pid": pid, "start": start_time(pid)})


def holder_pid(record: Record) -> int | None:
    for p in record.data.get("processes", []):
        if p["name"] == "holder" and start_time(p["pid"]) == p["start"]:
            return p["pid"]
    return None


def in_node(record: Record) -> list[str]:
    """The nsenter prefix that runs a command inside the node (its network and mount namespaces)."""
    pid = holder_pid(record)
    if pid is None:
        raise RuntimeError("the node is not running")
    return ["nsenter", f"--target={pid}", "--mount", "--net", "--"]


def launch(node: Node, record: Record, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """A node program, in the node's namespaces, its output in logs/<name>.log (PID recorded)."""
    log = node.path("logs", f"{name}.log").open("ab")
    proc = subprocess.Popen(
        in_node(record) + argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, **(env or {})},
    )
    remember(node, record, name, proc.pid)
    return proc.pid


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def node_processes(record: Record) -> set[int]:
    """Every live process that belongs to the node: recorded (same start time), inside its
    namespaces (shims, runc, anything the kubelet or containerd started), or in its cgroups (pods)."""
    pids = {p["pid"] for p in record.data.get("processes", []) if start_time(p["pid"]) == p["start"]}
    mnt, net = record.data.get("mnt_ns"), record.data.get("net_ns")
    # Never match the host's own namespaces (a node that failed to enter its own).
    if mnt in (ns_inode(1, "mnt"), ns_inode("self", "mnt")):
        mnt = None
    if net in (ns_inode(1, "net"), ns_inode("self", "net")):
        net = None
    if mnt or net:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                if (mnt and ns_inode(entry.name, "mnt") == mnt) or (net and ns_inode(entry.name, "net") == net):
                    pids.add(int(entry.name))
    pids |= cgroup_pids(record)
    pids.discard(os.getpid())
    return {p for p in pids if alive(p)}


def stop_processes(record: Record, grace: float = 5.0) -> set[int]:
    """SIGTERM, then SIGKILL after `grace` s, until none is left; returns the PIDs it signalled."""
    signalled: set[int] = set()
    deadline = time.monotonic() + grace
    sig = signal.SIGTERM
    while True:
        pids = node_processes(record)
        if not pids:
            return signalled
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            try:
                os.kill(pid, sig)
                signalled.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        if time.monotonic() > deadline + 20:
            raise RuntimeError(f"processes that will not die: {sorted(node_processes(record))}")
