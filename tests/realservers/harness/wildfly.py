"""Run WildFly "pods" from the artefacts the program deploys, in network namespaces.

A :class:`PodTemplate` is the WildflyCluster pod spec in plain data: command, args, env
entries (Kubernetes style, with ``valueFrom``), labels, and the two ConfigMaps' data. It comes
either from the objects the program renders (:meth:`PodTemplate.from_rendered`, the
Deployment and ConfigMaps of an offline mock run) or from ``sessionstack.wildfly_config``
directly (:meth:`PodTemplate.from_wildfly_config`, same functions the component calls).

A :class:`WildflyPod` runs that template unchanged, substituting only what Kubernetes would
provide: the pod name and IP (its own namespace), the Kubernetes namespace, Secret values,
the volumes (ConfigMaps laid out as files, an emptyDir for the server base dir, the
ServiceAccount files through :class:`~.kubeapi.KubeApiStandIn`) and ``$(VAR)`` expansion in
args. It runs as the pod's runAsUser (non-root) against the unpacked distribution of the
same WildFly release (``JBOSS_HOME``), which that uid cannot write to.
"""

from __future__ import annotations

import copy
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from sessionstack import wildfly_config as wc

from .netns import Host, HarnessError, kill_group

JBOSS_UID = 1000
"""Default uid when the template sets no runAsUser (the jboss user of the WildFly images)."""
DEFAULT_JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
VIEW_RE = re.compile(r"with view: \[[^\]|\s]+\|\d+\] \(\d+\) \[(?P<members>[^\]]*)\]")
TOPOLOGY_RE = re.compile(
    r"\[Context=[^\]]*\.war\] ISPN1000(?:02|10): [^\[]* with members \[(?P<members>[^\]]*)\]")
_POD_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def wildfly_home() -> Path:
    """The unpacked distribution: $WILDFLY_HOME, else where tests/realservers/setup.sh puts it."""
    home = Path(os.environ.get("WILDFLY_HOME")
                or Path(os.environ.get("SESSIONSTACK_CACHE", "/var/cache/sessionstack"))
                / f"wildfly-{wc.WILDFLY_VERSION}")
    if not (home / "bin" / "standalone.sh").is_file():
        raise HarnessError(f"no WildFly {wc.WILDFLY_VERSION} at {home}: run tests/realservers/setup.sh")
    return home


def java_home() -> str:
    home = os.environ.get("SESSIONSTACK_JAVA_HOME", DEFAULT_JAVA_HOME)
    if not Path(home, "bin", "java").exists():
        raise HarnessError(f"no Java at {home} (set SESSIONSTACK_JAVA_HOME)")
    return home


def expand_k8s_refs(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined vars are replaced, ``$$`` escapes, rest stays."""
    def repl(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", repl, text)


def pod_names(deployment: str, count: int) -> list[str]:
    """Names like a ReplicaSet gives its pods: ``<deployment>-<template hash>-<5 chars>``."""
    pick = lambda n: "".join(secrets.choice(_POD_SUFFIX_ALPHABET) for _ in range(n))  # noqa: E731
    template_hash = pick(10)
    return [f"{deployment}-{template_hash}-{pick(5)}" for _ in range(count)]


@dataclass
class PodTemplate:
    """The WildflyCluster pod template in plain data (what the harness runs)."""

    deployment: str
    command: list[str]
    args: list[str]
    env: list[dict[str, Any]]
    labels: dict[str, str]
    configmaps: dict[str, dict[str, str]]
    """ConfigMap name -> data."""
    volume_mounts: dict[str, tuple[str, list[dict[str, str]] | None]]
    """mount path -> (ConfigMap name, items or None); emptyDirs are not listed."""
    empty_dirs: list[str] = field(default_factory=list)
    run_as_user: int = JBOSS_UID
    run_as_group: int | None = None
    pre_stop: list[str] | None = None
    """preStop exec command, run in the pod before SIGTERM."""
    termination_grace_seconds: int = wc.TERMINATION_GRACE_SECONDS
    readiness_period_seconds: int = 5
    readiness_failure_threshold: int = 2
    source: str = ""
    """Where this template came from (for test output)."""

    @classmethod
    def from_wildfly_config(cls, deployment: str, discovery: wc.Discovery = wc.Discovery.KUBE_PING,
                            backend: wc.SessionBackend = wc.SessionBackend.INFINISPAN,
                            cache_owners: int = 2, demo: bool = True) -> "PodTemplate":
        """The pod template the team-sheet contract describes, built from wildfly_config."""
        discovery, backend = wc.Discovery(discovery), wc.SessionBackend(backend)
        env: list[dict[str, Any]] = [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "SESSION_BACKEND", "value": backend.value},
        ]
        if backend is wc.SessionBackend.INFINISPAN:
            env += [
                {"name": "JGROUPS_DISCOVERY", "value": discovery.value},
                {"name": "KUBERNETES_LABELS",
                 "value": f"app.kubernetes.io/instance={deployment},app.kubernetes.io/component=was"},
                {"name": "JGROUPS_CLUSTER_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": f"{deployment}-jgroups", "key": "password"}}},
            ]
            if discovery is wc.Discovery.DNS_PING:
                env.append({"name": "JGROUPS_DNS_QUERY",
                            "value": f"{deployment}-ping.$(POD_NAMESPACE).svc.cluster.local"})
        mounts: dict[str, tuple[str, list[dict[str, str]] | None]] = {
            wc.SCRIPTS_DIR: (f"{deployment}-scripts", None)}
        configmaps = {f"{deployment}-scripts": wc.scripts_configmap_data(discovery, backend, cache_owners)}
        if demo:
            env.append({"name": "DEMO_APP_DIR", "value": wc.DEMO_APP_DIR})
            mounts[wc.DEMO_APP_DIR] = (f"{deployment}-demo-app", wc.demo_app_items())
            configmaps[f"{deployment}-demo-app"] = wc.demo_app_configmap_data()
        return cls(
            deployment=deployment,
            command=["/bin/bash", f"{wc.SCRIPTS_DIR}/start.sh"],
            args=wc.server_args(backend),
            env=env,
            labels={"app.kubernetes.io/name": "wildfly", "app.kubernetes.io/instance": deployment,
                    "app.kubernetes.io/component": "was", "app.kubernetes.io/part-of": "sessionstack",
                    "sessionstack.io/session-holding": "true"},
            configmaps=configmaps,
            volume_mounts=mounts,
            empty_dirs=[wc.SERVER_BASE_DIR],
            pre_stop=list(wc.PRESTOP_COMMAND),
            source="sessionstack.wildfly_config",
        )

    @classmethod
    def from_rendered(cls, objects: Iterable[dict[str, Any]], deployment: str | None = None) -> "PodTemplate":
        """The template of the WildFly Deployment among rendered Kubernetes ``objects``."""
        objects = list(objects)
        deployments = [o for o in objects if o.get("kind") == "Deployment"
                       and _pod_spec_container(o, "wildfly") is not None
                       and (deployment is None or o["metadata"]["name"] == deployment)]
        if len(deployments) != 1:
            raise HarnessError(f"expected one WildFly Deployment in the rendered objects, found "
                               f"{[d['metadata']['name'] for d in deployments]}")
        dep = deployments[0]
        spec = dep["spec"]["template"]["spec"]
        container = _pod_spec_container(dep, "wildfly")
        configmaps = {o["metadata"]["name"]: dict(o.get("data") or {}) for o in objects
                      if o.get("kind") == "ConfigMap"}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts: dict[str, tuple[str, list[dict[str, str]] | None]] = {}
        empty_dirs: list[str] = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                cm = volume["configMap"]["name"]
                if cm not in configmaps:
                    raise HarnessError(f"volume {mount['name']} names ConfigMap {cm}, which is not rendered")
                mounts[mount["mountPath"]] = (cm, volume["configMap"].get("items"))
            elif "emptyDir" in volume:
                empty_dirs.append(mount["mountPath"])
        pod_security = spec.get("securityContext") or {}
        container_security = container.get("securityContext") or {}
        run_as_user = container_security.get("runAsUser", pod_security.get("runAsUser", JBOSS_UID))
        run_as_group = container_security.get("runAsGroup", pod_security.get("runAsGroup"))
        pre_stop = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")
        readiness = container.get("readinessProbe") or {}
        return cls(
            deployment=dep["metadata"]["name"],
            command=list(container.get("command") or []),
            args=list(container.get("args") or []),
            env=copy.deepcopy(container.get("env") or []),
            labels=dict(dep["spec"]["template"]["metadata"].get("labels") or {}),
            configmaps=configmaps,
            volume_mounts=mounts,
            empty_dirs=empty_dirs,
            run_as_user=int(run_as_user),
            run_as_group=int(run_as_group) if run_as_group is not None else None,
            pre_stop=list(pre_stop) if pre_stop else None,
            termination_grace_seconds=int(spec.get("terminationGracePeriodSeconds", 30)),
            readiness_period_seconds=int(readiness.get("periodSeconds", 10)),
            readiness_failure_threshold=int(readiness.get("failureThreshold", 3)),
            source=f"rendered Deployment {dep['metadata']['name']}",
        )

    def label_selector(self) -> str:
        for entry in self.env:
            if entry.get("name") == "KUBERNETES_LABELS" and "value" in entry:
                return entry["value"]
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


def _pod_spec_container(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    try:
        containers = obj["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError):
        return None
    return next((c for c in containers if c.get("name") == name), None)


class WildflyPod:
    """One WildFly server in its own namespace, started from a :class:`PodTemplate`.

    ``arg_filter`` may rewrite the expanded args (the negative control binds JGroups to
    0.0.0.0 this way); everything else is the template as rendered.
    """

    def __init__(self, name: str, host: Host, template: PodTemplate, workdir: Path, *,
                 namespace: str, secrets_data: dict[tuple[str, str], str],
                 platform_env: dict[str, str] | None = None,
                 arg_filter: Callable[[list[str]], list[str]] | None = None) -> None:
        self.name, self.host, self.template = name, host, template
        self.namespace = namespace
        self.dir = Path(workdir) / name
        self.log_path = self.dir / "console.log"
        self._secrets = secrets_data
        self._platform_env = dict(platform_env or {})
        self._arg_filter = arg_filter
        self.proc: subprocess.Popen | None = None
        self.started_at: float | None = None
        self.exited_at: float | None = None
        self._mount_map: dict[str, Path] = {}
        self.env: dict[str, str] = {}
        self.argv: list[str] = []

    @property
    def ip(self) -> str:
        return self.host.ip

    @property
    def uid(self) -> int:
        return self.template.run_as_user

    @property
    def gid(self) -> int:
        return self.template.run_as_group if self.template.run_as_group is not None else self.uid

    def run_pre_stop(self, timeout: float | None = None) -> float:
        """Run the preStop exec command in the pod (as the pod user, with the container's
        environment, as the kubelet does); returns its duration."""
        if not self.template.pre_stop or not self.running:
            return 0.0
        t0 = time.monotonic()
        subprocess.run(self.host.command(self.template.pre_stop, uid=self.uid, gid=self.gid),
                       env={**self.env, "PATH": self.env.get("PATH", "/usr/bin:/bin")}, capture_output=True,
                       timeout=timeout or self.template.termination_grace_seconds)
        return time.monotonic() - t0

    @property
    def node_name(self) -> str:
        return wc.node_name(self.name)

    def url(self, path: str = wc.DEMO_CONTEXT_PATH, port: int = wc.HTTP_PORT) -> str:
        return f"http://{self.ip}:{port}{path}"

    # -- materialise volumes and env ------------------------------------------------------
    def _rewrite_paths(self, text: str) -> str:
        for mount_path in sorted(self._mount_map, key=len, reverse=True):
            if text == mount_path or text.startswith(mount_path.rstrip("/") + "/"):
                return str(self._mount_map[mount_path]) + text[len(mount_path.rstrip("/")):]
        return text

    def _lay_out_volumes(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o755)
        for index, (mount_path, (cm_name, items)) in enumerate(sorted(self.template.volume_mounts.items())):
            target = self.dir / f"cm{index}-{cm_name}"
            data = self.template.configmaps[cm_name]
            pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
            # The kubelet's layout: files in a timestamped dir, "..data" pointing at it, and a
            # symlink per top-level entry ("index.jsp -> ..data/index.jsp").
            payload = target / "..2026_01_01_00_00_00.000000001"
            for key, rel in pairs:
                if key not in data:
                    raise HarnessError(f"ConfigMap {cm_name} has no key {key!r}")
                path = payload / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[key])
            (target / "..data").symlink_to(payload.name)
            for top in sorted({rel.split("/", 1)[0] for _, rel in pairs}):
                (target / top).symlink_to(f"..data/{top}")
            # ConfigMap volumes are read-only for the container.
            for p in [target, *target.rglob("*")]:
                if not p.is_symlink():
                    p.chmod(0o755 if p.is_dir() else 0o644)
            self._mount_map[mount_path] = target
        for index, mount_path in enumerate(self.template.empty_dirs):
            target = self.dir / f"emptydir{index}"
            target.mkdir()
            os.chown(target, self.uid, self.gid)
            self._mount_map[mount_path] = target
        home = self.dir / "home"
        home.mkdir()
        os.chown(home, self.uid, self.gid)

    def _resolve_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in self.template.env:
            name = entry["name"]
            if "value" in entry:
                value = expand_k8s_refs(str(entry["value"]), env)
            else:
                source = entry.get("valueFrom", {})
                if "fieldRef" in source:
                    value = {"status.podIP": self.ip, "metadata.name": self.name,
                             "metadata.namespace": self.namespace,
                             "spec.nodeName": "harness-node"}[source["fieldRef"]["fieldPath"]]
                elif "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    value = self._secrets[(ref["name"], ref["key"])]
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    value = self.template.configmaps[ref["name"]][ref["key"]]
                else:
                    raise HarnessError(f"env {name}: unsupported valueFrom {source}")
            env[name] = self._rewrite_paths(value)
        return env

    def start(self) -> None:
        """Lay out the volumes, resolve env and args, and start the container command."""
        self._lay_out_volumes()
        container_env = self._resolve_env()
        self.env = {
            # What the image and the kubelet provide.
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": self.name,
            "HOME": str(self.dir / "home"),
            "JAVA_HOME": java_home(),
            "JBOSS_HOME": str(wildfly_home()),
            "LANG": "C.UTF-8",
            **self._platform_env,
            **container_env,
        }
        if wc.SERVER_BASE_DIR in self._mount_map and "SERVER_BASE_DIR" not in self.env:
            # start.sh's default is the emptyDir mount path; point it at the substitute.
            self.env["SERVER_BASE_DIR"] = str(self._mount_map[wc.SERVER_BASE_DIR])
        args = [expand_k8s_refs(a, self.env) for a in self.template.args]
        if self._arg_filter:
            args = self._arg_filter(args)
        command = [self._rewrite_paths(c) for c in self.template.command]
        self.argv = command + args
        self.started_at = time.monotonic()
        self.proc = self.host.popen(self.argv, env=self.env, log_path=self.log_path,
                                    uid=self.uid, gid=self.gid, cwd=str(self.dir))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the container's main process, as the kubelet does after preStop."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to every process of the pod (kill -9 / OOM / node loss of the process)."""
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def wait_exit(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait(timeout=10)
        self.exited_at = self.exited_at or time.monotonic()
        return code

    # -- observation ---------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def view(self) -> list[str] | None:
        """Cluster members as the server last logged them, or None before the first view.

        WildFly 39 logs the JGroups view at INFO only when the channel connects
        (WFLYCLJG0033); later changes show in Infinispan's topology lines for the web-session
        cache (ISPN100002/ISPN100010 "... with members [...]"), which is also the membership
        that matters for session replication. The latest line of either kind wins.
        """
        latest: tuple[int, str] | None = None
        text = self.log_text()
        for regex in (VIEW_RE, TOPOLOGY_RE):
            for match in regex.finditer(text):
                if latest is None or match.start() > latest[0]:
                    latest = (match.start(), match.group("members"))
        if latest is None:
            return None
        # Members print as "name(v=16.0.5)" in some lines and "name" in others.
        return [re.sub(r"\(.*\)$", "", m.strip()) for m in latest[1].split(",") if m.strip()]

    def probe(self, path: str, timeout: float = 2.0) -> int | None:
        """HTTP status of GET ``path`` on the management port, None if unreachable."""
        return http_status(self.ip, wc.MANAGEMENT_PORT, path, timeout)

    def ready(self) -> bool:
        return self.running and self.probe("/health/ready") == 200

    def wait_ready(self, timeout: float) -> float:
        """Seconds from start until /health/ready answered 200; raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise HarnessError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.ready():
                return time.monotonic() - self.started_at
            time.sleep(0.25)
        raise HarnessError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def thread_dump(self, timeout: float = 10.0) -> str:
        """A HotSpot thread dump of the server's JVM (SIGQUIT to the java child of
        standalone.sh, which prints it to the console log)."""
        java = subprocess.run(["pgrep", "-P", str(self.proc.pid), "java"],
                              capture_output=True, text=True).stdout.split()
        if not self.running or not java:
            raise HarnessError(f"{self.name}: no running JVM to dump")
        start = len(self.log_text())
        os.kill(int(java[0]), signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dump = self.log_text()[start:]
            if "Full thread dump" in dump and "JNI global refs" in dump:
                return dump
            time.sleep(0.2)
        raise HarnessError(f"{self.name}: no complete thread dump after {timeout}s")

    def stuck_session_writes(self) -> list[str]:
        """Names of threads parked in a session write (CacheEntryMutator.run). Meaningful
        with no request in flight: then such a thread is a request that never finished."""
        blocks = self.thread_dump().split('\n"')[1:]
        return [b.split('"', 1)[0] for b in blocks if "CacheEntryMutator.run" in b]


def http_status(ip: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()
