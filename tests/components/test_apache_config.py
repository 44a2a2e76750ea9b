"""Tests of components/sessionstack/apache_config.py: pure assertions, then Debian's apache2 on the rendered config.

The apache2 tests need Debian's apache2 package (CI installs it); without it they fail, never skip.
They start httpd on loopback only, bounded in time, and stop it themselves.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sessionstack import apache_config as ac
from sessionstack import routing_rules as rr

DEBIAN_MODULES = "/usr/lib/apache2/modules"


def directives(conf: str) -> list[tuple[str, str]]:
    out = []
    for line in conf.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, rest = line.partition(" ")
            out.append((name, rest))
    return out


def values(conf: str, name: str) -> list[str]:
    return [rest for n, rest in directives(conf) if n == name]


def test_image_is_a_pinned_official_patch_tag():
    name, _, tag = ac.APACHE_IMAGE.partition(":")
    assert name == "httpd"
    assert re.fullmatch(r"2\.4\.\d+(-(bookworm|trixie|alpine))?", tag), ac.APACHE_IMAGE


def test_listens_on_the_unprivileged_port_only():
    conf = ac.httpd_conf()
    assert values(conf, "Listen") == ["8080"]
    assert ac.APACHE_PORT == 8080
    assert values(ac.httpd_conf(port=9090), "Listen") == ["9090"]


def test_uses_event_mpm_and_only_the_needed_modules():
    conf = ac.httpd_conf()
    loaded = re.findall(r"LoadModule (\w+) modules/(\S+)", conf)
    names = {n for n, _ in loaded}
    assert "mpm_event_module" in names
    assert not names & {"mpm_prefork_module", "mpm_worker_module", "cgi_module", "cgid_module",
                        "include_module", "proxy_module", "autoindex_module", "status_module"}
    assert names == {"mpm_event_module", "authz_core_module", "mime_module", "dir_module", "alias_module",
                     "headers_module", "expires_module", "unixd_module", "log_config_module"}


def test_modules_dir_may_be_absolute_for_debian():
    conf = ac.httpd_conf(modules_dir=DEBIAN_MODULES)
    assert f"LoadModule mpm_event_module {DEBIAN_MODULES}/mod_mpm_event.so" in conf
    assert "modules/mod_" not in conf.replace(f"{DEBIAN_MODULES}/mod_", "")


def test_writes_only_to_the_run_dir_and_logs_to_stdio():
    conf = ac.httpd_conf()
    assert values(conf, "PidFile") == [f'"{ac.RUN_DIR}/httpd.pid"']
    assert values(conf, "DefaultRuntimeDir") == [f'"{ac.RUN_DIR}"']
    assert values(conf, "ErrorLog") == ["/proc/self/fd/2"]
    assert values(conf, "CustomLog")[0].startswith("/proc/self/fd/1 ")
    custom = ac.httpd_conf(server_root="/srv/h", run_dir="/tmp/run")
    assert values(custom, "PidFile") == ['"/tmp/run/httpd.pid"']
    assert values(ac.httpd_conf(server_root="/srv/h"), "PidFile") == ['"/srv/h/logs/httpd.pid"']


def test_every_routed_static_extension_has_a_type_and_a_cache_lifetime():
    assert set(ac.STATIC_TYPES) == set(rr.STATIC_EXTENSIONS)
    conf = ac.httpd_conf()
    for ext, (mime, _) in ac.STATIC_TYPES.items():
        assert f'AddType "{mime}" .{ext}' in conf
    assert values(conf, "TypesConfig") == ["/dev/null"]


def test_cache_lifetimes_long_for_assets_short_for_html():
    conf = ac.httpd_conf()
    expires = dict(re.findall(r'ExpiresByType (\S+) "access plus (\d+) seconds"', conf))
    for mime in ("text/css", "text/javascript", "image/png", "image/svg+xml", "font/woff2"):
        assert int(expires[mime]) == ac.ASSET_MAX_AGE_SECONDS >= 7 * 24 * 3600
    assert int(expires["text/html"]) == ac.HTML_MAX_AGE_SECONDS <= 600


def test_health_probe_path_is_not_routed_as_static():
    assert not rr.is_static_path(ac.HEALTH_PATH)
    files = ac.config_files()
    assert files[ac.HEALTH_FILE] == ac.HEALTH_BODY
    assert f'Alias "{ac.HEALTH_PATH}" "{ac.CONF_DIR}/{ac.HEALTH_FILE}"' in files[ac.CONF_FILE]


def test_command_runs_httpd_in_the_foreground_on_the_mounted_config():
    assert ac.httpd_command() == ["/usr/local/apache2/bin/httpd", "-f", f"{ac.CONF_DIR}/httpd.conf", "-DFOREGROUND"]


def test_the_rendered_file_leaves_no_placeholder_and_uses_every_argument():
    conf = ac.httpd_conf(server_root="/srv/h", modules_dir="/usr/lib/m", port=8123, document_root="/d", run_dir="/r", conf_dir="/c", user=None)
    assert "@" not in conf.replace("%{", "")
    assert 'ServerRoot "/srv/h"' in conf and "Listen 8123" in conf and 'DocumentRoot "/d"' in conf
    assert 'PidFile "/r/httpd.pid"' in conf and 'Alias "/healthz" "/c/healthz"' in conf
    assert "LoadModule mime_module /usr/lib/m/mod_mime.so" in conf and "\nUser " not in conf


def test_site_has_page_css_js_and_svg_all_routed_static():
    files = ac.STATIC_SITE_FILES
    assert {"index.html", "css/site.css", "js/app.js"} <= set(files)
    assert any(p.endswith(".svg") for p in files)
    for path in files:
        assert rr.is_static_path("/" + path), path
    page = files["index.html"]
    for ref in re.findall(r'(?:href|src)="(/[^"]+)"', page):
        if rr.is_static_path(ref):
            assert ref.lstrip("/") in files, f"index.html links {ref}, which the site does not contain"
    assert 'href="/session-demo/"' in page and not rr.is_static_path("/session-demo/")


def test_configmap_keys_and_items_round_trip():
    data = ac.configmap_data(ac.STATIC_SITE_FILES)
    items = ac.configmap_items(ac.STATIC_SITE_FILES)
    assert all("/" not in k and re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in data)
    assert {i["key"]: i["path"] for i in items} == {ac.configmap_key(p): p for p in ac.STATIC_SITE_FILES}
    assert data["css__site.css"] == ac.STATIC_SITE_FILES["css/site.css"]
    for bad in ("/abs", "a/../b", "a__b", ""):
        with pytest.raises(ValueError, match="site path must be relative"):
            ac.configmap_key(bad)


# --- Debian's apache2 on the rendered config ---------------------------------------------------

def _apache2() -> str:
    binary = shutil.which("apache2") or ("/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None)
    assert binary, "Debian's apache2 is required for these tests: apt-get install -y apache2"
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _configmap_volume(root: Path, files: dict[str, str]) -> None:
    """Lays files out the way the kubelet does for a ConfigMap with items: a timestamped dir, a
    ``..data`` symlink to it, and top-level symlinks into ``..data``."""
    stamped = root / "..2026_01_01_00_00_00.000000001"
    for path, body in files.items():
        target = stamped / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    (root / "..data").symlink_to(stamped.name)
    for top in sorted({p.split("/")[0] for p in files}):
        (root / top).symlink_to(f"..data/{top}")


@pytest.fixture
def httpd_tree():
    # Not pytest's tmp_path: its parents are 0700, and when the tests run as root httpd's children
    # switch to www-data, which must be able to traverse to the files.
    base = Path(tempfile.mkdtemp(prefix="sessionstack-httpd-"))
    conf_dir, site, run = base / "conf", base / "site", base / "run"
    for d in (conf_dir, site, run):
        d.mkdir(parents=True)
    port = _free_port()
    files = ac.config_files(server_root=str(base), modules_dir=DEBIAN_MODULES, port=port,
                            document_root=str(site), run_dir=str(run), conf_dir=str(conf_dir))
    _configmap_volume(conf_dir, files)
    _configmap_volume(site, ac.STATIC_SITE_FILES)
    base.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
    run.chmod(0o777)
    yield base, conf_dir / ac.CONF_FILE, port
    shutil.rmtree(base, ignore_errors=True)


def test_debian_apache2_accepts_the_config(httpd_tree):
    _, conf, _ = httpd_tree
    result = subprocess.run([_apache2(), "-f", str(conf), "-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stderr
    assert "AH00558" not in result.stderr  # ServerName is set


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def running_httpd(httpd_tree):
    base, conf, port = httpd_tree
    log = open(base / "httpd.out", "w+")
    proc = subprocess.Popen([_apache2(), "-f", str(conf), "-DFOREGROUND"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if _get(port, ac.HEALTH_PATH)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, f"httpd exited with {proc.returncode}: {(base / 'httpd.out').read_text()}"
            assert time.monotonic() < deadline, "httpd did not answer /healthz within 15 s"
            time.sleep(0.1)
        yield port, base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def test_debian_apache2_serves_the_site_from_a_configmap_layout(running_httpd):
    port, base = running_httpd
    for path, body in ac.STATIC_SITE_FILES.items():
        status, headers, got = _get(port, "/" + path)
        assert status == 200, path
        assert got == body.encode(), path
        ext = path.rsplit(".", 1)[1]
        assert headers["content-type"] == ac.STATIC_TYPES[ext][0], path
        assert headers["x-content-type-options"] == "nosniff"
    status, headers, got = _get(port, "/")
    assert status == 200 and got == ac.STATIC_SITE_FILES["index.html"].encode()
    assert "Apache/" not in headers.get("server", "")  # ServerTokens Prod hides the version


def test_debian_apache2_cache_headers(running_httpd):
    port, _ = running_httpd
    _, css, _ = _get(port, "/css/site.css")
    assert f"max-age={ac.ASSET_MAX_AGE_SECONDS}" in css["cache-control"] and "public" in css["cache-control"]
    assert "expires" in css
    _, svg, _ = _get(port, "/img/logo.svg")
    assert f"max-age={ac.ASSET_MAX_AGE_SECONDS}" in svg["cache-control"]
    _, html, _ = _get(port, "/index.html")
    assert html["cache-control"] == f"max-age={ac.HTML_MAX_AGE_SECONDS}"
    status, health, body = _get(port, ac.HEALTH_PATH)
    assert (status, body, health["cache-control"]) == (200, b"ok\n", "no-store")


def test_debian_apache2_etag_is_content_based_and_revalidates(running_httpd):
    port, base = running_httpd
    _, first, _ = _get(port, "/js/app.js")
    etag = first["etag"]
    # Another replica mounts the same bytes at another time: the ETag must not change with mtime.
    target = next((base / "site").glob("..2026_*/js/app.js"))
    os.utime(target, (1_000_000_000, 1_000_000_000))
    _, again, _ = _get(port, "/js/app.js")
    assert again["etag"] == etag
    status, _, body = _get(port, "/js/app.js", {"If-None-Match": etag})
    assert status == 304 and body == b""


def test_debian_apache2_refuses_dot_paths_and_misses(running_httpd):
    port, _ = running_httpd
    assert _get(port, "/..data/index.html")[0] == 403
    assert _get(port, "/..data/css/site.css")[0] == 403
    assert _get(port, "/.hidden.png")[0] == 403
    assert _get(port, "/missing.png")[0] == 404
    assert _get(port, "/css/")[0] in (403, 404)  # no directory listings (mod_autoindex is not loaded)
