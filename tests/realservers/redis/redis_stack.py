"""The Redis session path on real servers, built from the objects the program renders.

``render()`` evaluates the program (__main__.py, local stack, session backend redis) under mocks
with offline.mockrun. ``RedisStack`` then runs, on helper W's network-namespace harness:

- Redis (Debian's redis-server) in its own host named like the StatefulSet's pod, from the
  rendered ConfigMap's redis.conf, the rendered Secret's auth.conf and the container's args,
  as the image's redis uid, with the data directory kept across restarts (the PVC);
- WildFly pods from the rendered Deployment (ClusterHarness), running the application image's
  layout (apps/spring-session-demo/Dockerfile): a copy of the pinned distribution with the
  Spring Session demo WAR in standalone/deployments as JBOSS_HOME; the Service name in
  SPRING_DATA_REDIS_HOST resolves through the harness's DNS stand-in;
- nginx in a host of its own, round-robin over the WildFly pods with no affinity of any kind.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

if __name__ == "__main__":  # run as a script: the repository and the harness must be importable
    import sys

    sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[1])]

from sessionstack import redis_config as rc
from harness import ClusterHarness, HarnessError, Host, Network, PodTemplate, WildflyPod, wildfly_home

from redisbox import RedisBox, require_tools
from redis_resp import Resp

ROOT = Path(__file__).resolve().parents[3]
STACK = "local"
"""Stack file (config/Pulumi.local.yaml) the objects are rendered for."""
DEMO_DIR = ROOT / "apps" / "spring-session-demo"
WAR = DEMO_DIR / "target" / "session-demo.war"
K8S_NAMESPACE = "sessionstack"
REDIS_UID = 999


@dataclass
class Rendered:
    objects: list[dict[str, Any]]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if len(found) != 1:
            raise HarnessError(f"expected one rendered {kind} {name}, found {len(found)}")
        return found[0]

    def redis_statefulset(self) -> dict[str, Any]:
        sets = [o for o in self.objects if o["kind"] == "StatefulSet"]
        if len(sets) != 1:
            raise HarnessError(f"expected one StatefulSet, found {[s['metadata']['name'] for s in sets]}")
        return sets[0]

    def redis_container(self) -> dict[str, Any]:
        containers = self.redis_statefulset()["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == "redis")

    def _volume_source(self, mount_path: str) -> dict[str, Any]:
        container = self.redis_container()
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == mount_path)
        volumes = self.redis_statefulset()["spec"]["template"]["spec"]["volumes"]
        return next(v for v in volumes if v["name"] == mount["name"])

    def redis_conf(self) -> str:
        """redis.conf as the pod sees it: the ConfigMap mounted at CONFIG_DIR."""
        source = self._volume_source(rc.CONFIG_DIR)["configMap"]
        return self.get("ConfigMap", source["name"])["data"][rc.CONFIG_FILE]

    def auth_secret(self) -> dict[str, Any]:
        source = self._volume_source(rc.AUTH_DIR)["secret"]
        return self.get("Secret", source["secretName"])

    def auth_conf(self) -> str:
        """The auth include as the pod sees it: the Secret item mounted under AUTH_DIR."""
        source = self._volume_source(rc.AUTH_DIR)["secret"]
        items = {i["path"]: i["key"] for i in source.get("items", [])}
        key = items.get(rc.SECRET_AUTH_CONF_KEY, rc.SECRET_AUTH_CONF_KEY)
        return self.auth_secret()["stringData"][key]

    def password(self) -> str:
        return self.auth_secret()["stringData"][rc.SECRET_PASSWORD_KEY]

    def redis_args(self) -> list[str]:
        container = self.redis_container()
        return list(container.get("command") or []) + list(container.get("args") or [])

    def redis_pod_name(self) -> str:
        return self.redis_statefulset()["metadata"]["name"] + "-0"

    def redis_pod_labels(self) -> dict[str, str]:
        return dict(self.redis_statefulset()["spec"]["template"]["metadata"]["labels"])

    def wildfly_deployment(self) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == "Deployment"
                 and any(c["name"] == "wildfly" for c in o["spec"]["template"]["spec"]["containers"])]
        if len(found) != 1:
            raise HarnessError(f"expected one WildFly Deployment, found {len(found)}")
        return found[0]

    def pod_labels(self, kind: str, name: str) -> dict[str, str]:
        return dict(self.get(kind, name)["spec"]["template"]["metadata"]["labels"])

    def redis_service_host(self, deployment: dict[str, Any]) -> str:
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "SPRING_DATA_REDIS_HOST")


def render(maxmemory_mb: int = 64, backend: str = "redis") -> Rendered:
    """The program (__main__.py) for the local stack under mocks, with the session backend set.

    ``redis``: WildFly without the ConfigMap demo (the application image carries the WAR) and
    the in-cluster RedisSessionStore in standalone mode (one pod: what this tier runs; the
    sentinel mode, the default, runs on the real cluster, tests/cluster/test_redis_stack.py);
    ``infinispan``: the stack file's defaults.
    """
    from offline import mockrun

    overrides = {"redis.maxmemoryMb": str(maxmemory_mb)}
    if backend == "redis":
        overrides |= {"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "redis.mode": "standalone"}
    elif backend != "infinispan":
        raise ValueError(f"backend must be redis or infinispan, got {backend!r}")
    run = mockrun.run_stack(STACK, overrides=overrides)
    return Rendered(run.kubernetes_objects())


class HookedNetwork(Network):
    """Network that gives every new host the cluster DNS (resolv.conf) before anything runs."""

    def __init__(self) -> None:
        super().__init__()
        self.on_add: list[Callable[[Host], None]] = []

    def add_host(self, name: str) -> Host:
        host = super().add_host(name)
        for hook in self.on_add:
            hook(host)
        return host


class NginxFront:
    """nginx in its own host: plain round-robin over the WildFly pods, no affinity."""

    def __init__(self, host: Host, workdir: Path) -> None:
        self.host = host
        self.dir = workdir / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.upstreams: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host.ip}:80"

    def _write(self) -> None:
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=2s;" for u in self.upstreams)
        d = self.dir
        (d / "nginx.conf").write_text(f"""\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream was {{
{servers}
        keepalive 16;
    }}
    server {{
        listen {self.host.ip}:80;
        location / {{
            proxy_pass http://was;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
""")

    def start(self, upstreams: list[str]) -> None:
        self.upstreams = list(upstreams)
        self._write()
        self.proc = self.host.popen(["nginx", "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")],
                                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, log_path=self.dir / "console.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"nginx exited: {(self.dir / 'error.log').read_text(errors='replace')}")
            if (self.dir / "nginx.pid").exists():
                return
            time.sleep(0.05)
        raise HarnessError("nginx did not start")

    def set_upstreams(self, upstreams: list[str]) -> None:
        """Like the endpoints controller: the Service's endpoints change, the proxy follows."""
        self.upstreams = list(upstreams)
        self._write()
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class RedisStack:
    """Redis + WildFly (Spring Session demo) + nginx, from the rendered objects."""

    def __init__(self, *, wildfly_pods: int = 2, maxmemory_mb: int = 64, workdir: Path | None = None) -> None:
        require_tools()
        if not WAR.is_file():
            raise HarnessError(f"{WAR} missing: run apps/spring-session-demo/build.sh")
        self.rendered = render(maxmemory_mb)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sessionstack-redis-"))
        self.workdir.chmod(0o755)
        self.network = HookedNetwork()
        self.harness: ClusterHarness | None = None
        self.redis: RedisBox | None = None
        self.front: NginxFront | None = None
        try:
            self._start(wildfly_pods)
        except BaseException:
            self.close()
            raise

    # -- assembly -------------------------------------------------------------------------
    def _start(self, wildfly_pods: int) -> None:
        deployment = self.rendered.wildfly_deployment()
        template = PodTemplate.from_rendered(self.rendered.objects, deployment["metadata"]["name"])
        # The application image (the Dockerfile's layout): its JBOSS_HOME carries the WAR.
        template.env.append({"name": "JBOSS_HOME", "value": str(self._image_home())})
        self.template = template
        (self.workdir / "pods").mkdir(exist_ok=True)
        self.harness = ClusterHarness(template, namespace=K8S_NAMESPACE, network=self.network,
                                      workdir=self.workdir / "pods")
        self.network.on_add.append(lambda host: self.harness.dns.write_resolv_conf(host.ns))
        secret = self.rendered.auth_secret()
        self.harness.secrets[(secret["metadata"]["name"], rc.SECRET_PASSWORD_KEY)] = self.rendered.password()

        self.redis_host = self.network.add_host(self.rendered.redis_pod_name())
        self.harness.dns.add(self.rendered.redis_service_host(deployment), self.redis_host.ip)
        self.redis = RedisBox(self.workdir / "redis", self.rendered.redis_conf(), self.rendered.auth_conf(),
                              args=self.rendered.redis_args(), netns_path=self.redis_host.netns_path,
                              uid=REDIS_UID)
        self.redis.start()

        pods = [self.add_wildfly_pod() for _ in range(wildfly_pods)]
        self.harness.wait_ready(pods, timeout=300)
        for pod in pods:
            self.wait_serving(pod)
        self.front = NginxFront(self.network.add_host("front"), self.workdir)
        self.front.start([f"{p.ip}:8080" for p in pods])

    def _image_home(self) -> Path:
        """JBOSS_HOME of the application image: the pinned distribution (hard-linked when the
        file system allows, read-only for the pods' uid) with the WAR in standalone/deployments.

        Kept next to the unpacked distribution (not under /tmp, which the pod template mounts
        an emptyDir over), once per WAR content.
        """
        dist = wildfly_home()
        digest = hashlib.sha256(WAR.read_bytes()).hexdigest()[:12]
        home = dist.parent / "images" / f"spring-session-demo-{digest}"
        if (home / "standalone" / "deployments" / "session-demo.war").is_file():
            return home
        home.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=home.parent))
        staged = tmp / "home"
        if subprocess.run(["cp", "-al", str(dist), str(staged)], capture_output=True).returncode != 0:
            shutil.rmtree(staged, ignore_errors=True)
            subprocess.run(["cp", "-a", str(dist), str(staged)], check=True)
        target = staged / "standalone" / "deployments" / "session-demo.war"
        shutil.copyfile(WAR, target)
        target.chmod(0o644)
        tmp.chmod(0o755)
        try:
            staged.rename(home)
        except OSError:
            if not home.is_dir():  # not a concurrent build that won the race
                raise
        shutil.rmtree(tmp, ignore_errors=True)
        return home

    def wait_serving(self, pod: WildflyPod, timeout: float = 90.0) -> float:
        """Wait until ``pod`` serves the demo through Redis (200), returning the seconds it took.

        WildFly's readiness does not cover the application's first Redis connection. In this
        harness the pod's first DNS lookup of the Redis Service has, on a loaded machine, gone
        unanswered by the DNS stand-in (cause not found), and the JVM then caches the failure
        for 10 s; every scenario would start inside that window. Bounded: raises HarnessError.
        """
        start = time.monotonic()
        last = ""
        while time.monotonic() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://{pod.ip}:8080/session-demo/", timeout=10) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start
                    last = f"http {answer.status}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(1.0)
        raise HarnessError(f"pod {pod.name} did not serve the demo through Redis within {timeout:.0f} s: {last}")

    def add_wildfly_pod(self) -> WildflyPod:
        return self.harness.add_pod()

    # -- helpers for the scenarios --------------------------------------------------------
    @property
    def pods(self) -> list[WildflyPod]:
        return self.harness.live_pods

    @property
    def url(self) -> str:
        return self.front.url

    def redis_client(self, authenticate: bool = True) -> Resp:
        """A client on the Redis pod's loopback (like `kubectl exec ... redis-cli`)."""
        client = Resp(self.redis.connect("127.0.0.1", rc.REDIS_PORT))
        if authenticate:
            client.call("AUTH", self.rendered.password())
        return client

    def session_keys(self) -> list[bytes]:
        with self.redis_client() as r:
            return sorted(k for k in r.call("KEYS", "sessionstack:session:sessions:*"))

    def restart_redis(self, sig: int = signal.SIGTERM) -> float:
        """Stop Redis with ``sig`` and start it again on the same data; returns seconds down."""
        t0 = time.monotonic()
        self.redis.stop(sig)
        self.redis.start()
        return time.monotonic() - t0

    def close(self) -> None:
        if self.front:
            self.front.stop()
        if self.redis:
            self.redis.stop(signal.SIGKILL)
        if self.harness:
            self.harness.close()  # pods and stand-ins; the network is ours to close
        self.network.close()

    def __enter__(self) -> "RedisStack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> int:
    """Run the stack until interrupted, for trying `python -m verify` by hand (as root):

        .venv/bin/python tests/realservers/redis/redis_stack.py [--pods 2] [--seconds N]
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Redis + WildFly (Spring Session) + nginx on the harness")
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    args = parser.parse_args()
    with RedisStack(wildfly_pods=args.pods) as stack:
        print(f"stack up: {stack.url}/session-demo/  (pods {', '.join(p.name for p in stack.pods)})")
        print(f"try:      {sys.executable} -m verify {stack.url} --min-pods 2 --expect-affinity none", flush=True)
        try:
            time.sleep(args.seconds) if args.seconds else signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
