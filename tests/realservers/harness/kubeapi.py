"""A minimal stand-in for the one Kubernetes API call KUBE_PING makes.

``GET /api/v1/namespaces/<ns>/pods?labelSelector=k=v,...`` over HTTPS with a bearer token,
answered from a registry of "pods" the harness keeps (name, namespace, labels, IP, ready).
Anything else is 404; a missing or wrong token is 401. The server certificate is made by
openssl for the bridge address, and the CA file and token file are what a pod would find at
/var/run/secrets/kubernetes.io/serviceaccount/: :meth:`pod_env` gives the environment that
points KUBE_PING at them (KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them, and
SA_TOKEN_FILE / KUBERNETES_CA_CERTIFICATE_FILE, the jgroups-kubernetes overrides
of the two mounted files' paths).
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class PodRecord:
    name: str
    namespace: str
    labels: dict[str, str]
    ip: str
    ready: bool = False
    phase: str = "Running"


def _parse_selector(selector: str) -> dict[str, str]:
    """Equality-based selector ``a=b,c=d`` (what KUBERNETES_LABELS holds)."""
    wanted = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep:
            raise ValueError(f"unsupported selector term {term!r}")
        wanted[key.strip().rstrip("=")] = value.strip().lstrip("=")
    return wanted


class KubeApiStandIn:
    """HTTPS pod-list endpoint on ``host:port``; use as a context manager or call close()."""

    def __init__(self, host: str, workdir: Path, port: int = 6443) -> None:
        self.host, self.port = host, port
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(24)
        self.token_file = self.workdir / "token"
        self.token_file.write_text(self.token)
        self.ca_file = self.workdir / "ca.crt"
        key_file = self.workdir / "tls.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=kubernetes", "-addext", f"subjectAltName=IP:{host}",
             "-keyout", str(key_file), "-out", str(self.ca_file)],
            check=True, capture_output=True, timeout=60)
        for f in (self.token_file, self.ca_file):
            f.chmod(0o644)  # readable by the pods' non-root uid, like the projected volume
        self._pods: dict[str, PodRecord] = {}
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.ca_file), str(key_file))
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubeapi", daemon=True)
        self._thread.start()

    # -- registry -------------------------------------------------------------------------
    def put_pod(self, pod: PodRecord) -> None:
        with self._lock:
            self._pods[pod.name] = pod

    def set_ready(self, name: str, ready: bool) -> None:
        with self._lock:
            if name in self._pods:
                self._pods[name].ready = ready

    def delete_pod(self, name: str) -> None:
        with self._lock:
            self._pods.pop(name, None)

    def list_pods(self, namespace: str, selector: str) -> list[PodRecord]:
        wanted = _parse_selector(selector)
        with self._lock:
            return [p for p in self._pods.values()
                    if p.namespace == namespace and all(p.labels.get(k) == v for k, v in wanted.items())]

    def pod_env(self) -> dict[str, str]:
        """What a pod's environment and mounted ServiceAccount files would give KUBE_PING."""
        return {
            "KUBERNETES_SERVICE_HOST": self.host,
            "KUBERNETES_SERVICE_PORT": str(self.port),
            # jgroups-kubernetes 2.0.2 (WildFly 39) reads the token path override from
            # SA_TOKEN_FILE only; later releases also accept KUBERNETES_SA_TOKEN_FILE.
            "SA_TOKEN_FILE": str(self.token_file),
            "KUBERNETES_CA_CERTIFICATE_FILE": str(self.ca_file),
        }

    # -- HTTP -----------------------------------------------------------------------------
    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server API)
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._send(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
                    return
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 5 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods":
                    self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
                    return
                namespace = urllib.parse.unquote(parts[3])
                selector = urllib.parse.parse_qs(url.query).get("labelSelector", [""])[0]
                try:
                    pods = api.list_pods(namespace, selector)
                except ValueError as exc:
                    self._send(400, {"kind": "Status", "status": "Failure", "message": str(exc), "code": 400})
                    return
                self._send(200, {
                    "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                    "items": [{
                        "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
                        "status": {
                            "phase": p.phase, "podIP": p.ip, "podIPs": [{"ip": p.ip}],
                            "conditions": [{"type": "Ready", "status": "True" if p.ready else "False"}],
                        },
                    } for p in pods],
                })

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "KubeApiStandIn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
