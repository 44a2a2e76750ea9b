"""The routing tier on real servers: Debian's nginx (the router) and apache2 (the static tier).

:func:`nginx_conf` renders, from ``sessionstack.routing_rules.RoutingRules``, what the routing
component asks of any router: paths matching ``rules.static_regex`` go to Apache, everything
else to WildFly with cookie affinity on ``rules.session_cookie``. Open-source nginx has no
sticky-cookie module, so affinity is built from stock directives: the first answer sets the
affinity cookie to a random key (``$request_id``), and the WildFly upstream is chosen by
``hash <key> consistent``. The same key always lands on the same pod while it is up; when that
pod fails, ``proxy_next_upstream`` retries the request on the next pod of the hash ring, and
because the ring is consistent every later request with that key goes to that same new pod:
the affinity moves to a live pod without the client noticing.

:class:`Front` runs both servers in their own namespaces, as an unprivileged uid.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sessionstack import apache_config
from sessionstack.routing_rules import RoutingRules

from .netns import HarnessError, Host, kill_group
from .wildfly import http_status

NGINX_PORT = 8080
NOBODY = 65534
APACHE_MODULES_DIR = "/usr/lib/apache2/modules"


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
# Rendered by tests/realservers/harness/front.py from sessionstack.routing_rules.RoutingRules.
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


class Front:
    """nginx on ``router_host`` and apache2 on ``apache_host``, both as nobody."""

    def __init__(self, workdir: Path, router_host: Host, apache_host: Host) -> None:
        for tool in ("nginx", "apache2"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise HarnessError(f"{tool} missing: run tests/realservers/setup.sh")
        self.workdir = Path(workdir)
        self.router_host, self.apache_host = router_host, apache_host
        self.nginx_dir = self.workdir / "nginx"
        self.apache_dir = self.workdir / "apache"
        self.nginx: subprocess.Popen | None = None
        self.apache: subprocess.Popen | None = None
        self.site_files: dict[str, str] = {}

    @property
    def url_host(self) -> str:
        return self.router_host.ip

    def start_apache(self, site_files: dict[str, str]) -> None:
        """apache2 on exactly apache_config.httpd_conf(), with Debian's module dir and temp dirs."""
        conf_dir, docroot, run_dir = (self.apache_dir / d for d in ("conf", "htdocs", "run"))
        for d in (conf_dir, docroot, run_dir):
            d.mkdir(parents=True, exist_ok=True)
        files = apache_config.config_files(
            server_root=str(self.apache_dir), modules_dir=APACHE_MODULES_DIR,
            document_root=str(docroot), run_dir=str(run_dir), conf_dir=str(conf_dir), user=None)
        for name, body in files.items():
            (conf_dir / name).write_text(body)
        for rel, body in site_files.items():
            path = docroot / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
        self.site_files = dict(site_files)
        os.chown(run_dir, NOBODY, NOBODY)
        for p in [self.apache_dir, *self.apache_dir.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        os.chown(run_dir, NOBODY, NOBODY)
        argv = ["/usr/sbin/apache2", "-f", str(conf_dir / apache_config.CONF_FILE), "-DFOREGROUND"]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.apache = self.apache_host.popen(argv, env=env, log_path=self.apache_dir / "console.log",
                                             uid=NOBODY, gid=NOBODY)
        self._wait_http(self.apache_host.ip, apache_config.APACHE_PORT, apache_config.HEALTH_PATH,
                        self.apache, self.apache_dir / "console.log")

    def start_nginx(self, rules: RoutingRules, wildfly_backends: list[str]) -> str:
        self.nginx_dir.mkdir(parents=True, exist_ok=True)
        conf = nginx_conf(rules, listen=f"{self.router_host.ip}:{NGINX_PORT}",
                          apache=f"{self.apache_host.ip}:{apache_config.APACHE_PORT}",
                          wildfly=wildfly_backends, prefix=self.nginx_dir)
        conf_path = self.nginx_dir / "nginx.conf"
        conf_path.write_text(conf)
        os.chown(self.nginx_dir, NOBODY, NOBODY)
        check = subprocess.run(self.router_host.command(["/usr/sbin/nginx", "-t", "-q", "-c", str(conf_path),
                                                         "-p", str(self.nginx_dir), "-e", str(self.nginx_dir / "error.log")], uid=NOBODY),
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise HarnessError(f"nginx -t rejected the config: {check.stderr}\n{conf}")
        self.nginx = self.router_host.popen(["/usr/sbin/nginx", "-c", str(conf_path), "-p", str(self.nginx_dir),
                                             "-e", str(self.nginx_dir / "error.log")],
                                            env={"PATH": "/usr/sbin:/usr/bin:/bin"},
                                            log_path=self.nginx_dir / "console.log", uid=NOBODY, gid=NOBODY)
        self._wait_http(self.router_host.ip, NGINX_PORT, "/index.html", self.nginx, self.nginx_dir / "error.log")
        return conf

    @staticmethod
    def _wait_http(ip: str, port: int, path: str, proc: subprocess.Popen, log: Path, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise HarnessError(f"server exited with {proc.returncode}: {text[-2000:]}")
            if http_status(ip, port, path, timeout=1) is not None:
                return
            time.sleep(0.1)
        raise HarnessError(f"nothing answers on {ip}:{port}{path} after {timeout}s")

    def close(self) -> None:
        for proc in (self.nginx, self.apache):
            if proc is not None and proc.poll() is None:
                kill_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    kill_group(proc, signal.SIGKILL)
                    proc.wait(timeout=5)
