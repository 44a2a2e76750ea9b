"""The tests' router on the cluster: nginx with the routing rules every routing implementation of
the stack follows, its backends fed from the real EndpointSlices (what an ingress controller does).

:func:`nginx_conf` renders, from ``sessionstack.routing_rules.RoutingRules``, what the routing
component asks of any router: paths matching ``rules.static_regex`` go to Apache, everything
else to WildFly with cookie affinity on ``rules.session_cookie``. Open-source nginx has no
sticky-cookie module, so affinity is built from stock directives: the first answer sets the
affinity cookie to a random key (``$request_id``), and the WildFly upstream is chosen by
``hash <key> consistent``. The same key always lands on the same pod while it is up; when that
pod fails, ``proxy_next_upstream`` retries the request on the next pod of the hash ring, and
because the ring is consistent every later request with that key goes to that same new pod:
the affinity moves to a live pod without the client noticing (ingress-nginx's ``balanced``
affinity does the same with Lua).
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Iterator

from deployments import NAMESPACE
from kube import IMAGES, Cluster, wait_until
from polling import every
from sessionstack.routing_rules import RoutingRules


def nginx_conf(rules: RoutingRules, *, listen: str, apache: str, wildfly: list[str], prefix: Path,
               fail_timeout_s: int = 10) -> str:
    """nginx.conf for the router: ``apache`` / ``wildfly`` are ``ip:port`` backends."""
    if not wildfly:
        raise ValueError("wildfly must list at least one backend")
    cookie = rules.session_cookie
    cookie_re = re.escape(cookie)
    servers = "\n".join(f"        server {b} max_fails=1 fail_timeout={fail_timeout_s}s;" for b in wildfly)
    # nginx regexes are PCRE; the rules' regex spells case variants itself, so '~' (case-sensitive).
    static_regex = rules.static_regex.replace('"', r"\"")
    return f"""\
# Rendered by tests/cluster/router.py from sessionstack.routing_rules.RoutingRules.
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    # The client's {cookie} cookie ($cookie_NAME cannot spell every cookie name, e.g. '-').
    map $http_cookie $affinity_cookie {{
        "~(?:^|;)\\s*{cookie_re}=(?<value>[^;\\s]+)" $value;
        default "";
    }}
    # Affinity key: that cookie, or a fresh random key for a new client.
    map $affinity_cookie $affinity_key {{
        ""      $request_id;
        default $affinity_cookie;
    }}
    # Set the cookie only when the client did not send one.
    map $affinity_cookie $affinity_set_cookie {{
        ""      "{cookie}=$affinity_key; Path=/; Max-Age={rules.cookie_max_age_seconds}; HttpOnly";
        default "";
    }}

    upstream apache {{
        server {apache};
    }}
    upstream wildfly {{
        hash $affinity_key consistent;
{servers}
    }}

    server {{
        listen {listen};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;
        proxy_read_timeout 30s;

        location ~ "{static_regex}" {{
            proxy_pass http://apache;
        }}
        location / {{
            add_header Set-Cookie $affinity_set_cookie always;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_pass http://wildfly;
        }}
    }}
}}
"""


ROUTER_IMAGE = IMAGES["router"]
ROUTER_PORT = 8080
RUN_DIR = "/run/router"
NGINX = ["nginx", "-c", f"{RUN_DIR}/nginx.conf", "-p", RUN_DIR, "-e", f"{RUN_DIR}/error.log"]


def ready_endpoints(cluster: Cluster, service: str) -> list[str]:
    """``ip:port`` of every ready, not terminating endpoint of ``service`` (its EndpointSlices)."""
    found = []
    for eps in cluster.items("endpointslices", "-n", NAMESPACE, "-l", f"kubernetes.io/service-name={service}"):
        port = eps["ports"][0]["port"]
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions", {})
            if conditions.get("ready") and not conditions.get("terminating"):
                found += [f"{address}:{port}" for address in endpoint["addresses"]]
    return sorted(found)


class Router:
    """nginx in a pod of the router's namespace; ``sync`` is what its controller would do."""

    def __init__(self, cluster: Cluster, namespace: str, rules: RoutingRules) -> None:
        self.cluster, self.namespace, self.rules = cluster, namespace, rules
        self.backends: tuple[list[str], list[str]] = ([], [])
        self.reloads: list[tuple[float, list[str]]] = []
        """(time.monotonic(), WildFly backends) of every configuration loaded, in order."""

    def start(self) -> None:
        labels = {"app.kubernetes.io/name": "sessionstack-test-router"}
        # nginx starts once the first configuration is in place (the first sync says so).
        wait_conf = f"until [ -e {RUN_DIR}/started ]; do sleep 0.2; done; exec {' '.join(NGINX)}"
        self.cluster.apply([
            {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "router", "namespace": self.namespace, "labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "nginx", "image": ROUTER_IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", wait_conf],
                        "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
                        "volumeMounts": [{"name": "run", "mountPath": RUN_DIR}],
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
                                            "readOnlyRootFilesystem": True},
                    }],
                    "volumes": [{"name": "run", "emptyDir": {}}],
                },
            },
            {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "router", "namespace": self.namespace},
                "spec": {"selector": labels, "ports": [{"port": ROUTER_PORT, "targetPort": "http"}]},
            },
        ])
        wait_until("the router pod to run", lambda: self.cluster.get("pod", "-n", self.namespace, "router")["status"].get("phase") == "Running", 120)
        self.sync()

    def sync(self) -> tuple[list[str], list[str]]:
        """Renders nginx.conf from the EndpointSlices of Apache and WildFly, checks and (re)loads it."""
        apache, wildfly = ready_endpoints(self.cluster, "apache"), ready_endpoints(self.cluster, "wildfly")
        assert apache and wildfly, (apache, wildfly)
        conf = nginx_conf(self.rules, listen=f"0.0.0.0:{ROUTER_PORT}", apache=apache[0], wildfly=wildfly, prefix=Path(RUN_DIR))
        # One Apache backend is enough for the rules (any pod serves any file): the first ready one.
        script = (f"cat > {RUN_DIR}/next.conf && {' '.join(NGINX).replace('nginx.conf', 'next.conf')} -t -q"
                  f" && mv {RUN_DIR}/next.conf {RUN_DIR}/nginx.conf"
                  f" && if [ -e {RUN_DIR}/started ]; then {' '.join(NGINX)} -s reload; else touch {RUN_DIR}/started; fi")
        self.cluster.kubectl("exec", "-i", "-n", self.namespace, "router", "--", "sh", "-c", script, input=conf)
        self.backends = (apache, wildfly)
        self.reloads.append((time.monotonic(), wildfly))
        return self.backends

    @contextlib.contextmanager
    def following(self, interval_s: float = 1.0) -> Iterator["Router"]:
        """While the block runs, what the router's controller does: every ``interval_s`` it reads
        WildFly's ready endpoints from the EndpointSlices and reloads nginx when they changed. (A
        controller watches instead; each check here costs a kubectl call, and the reload an exec, so
        under load a pod can stay listed a few seconds after it left the endpoints.)"""
        def follow() -> None:
            if ready_endpoints(self.cluster, "wildfly") != self.backends[1]:
                self.sync()

        # An exception (no ready endpoint for a moment, an API hiccup) waits for the next look.
        with every(interval_s, follow):
            yield self

    def stop(self) -> None:
        self.cluster.kubectl("delete", "pod,service", "-n", self.namespace, "router", "--wait=false", check=False)
