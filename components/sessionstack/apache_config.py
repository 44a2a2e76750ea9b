"""Pure Apache httpd artefacts for the static tier: httpd.conf, the health file and a small static site.

Nothing here imports pulumi. ApacheStaticTier (components/apache.py) mounts ``config_files()`` from
the ConfigMap ``<name>-config`` at CONF_DIR and ``STATIC_SITE_FILES`` from ``<name>-site`` at
DOCUMENT_ROOT, and runs ``httpd_command()``. The tests run Debian's apache2 on exactly
the text ``httpd_conf()`` returns (with Debian's modules dir and temporary directories), so the
config only uses directives and modules that both the official image and Debian's build have, and
loads the modules Debian compiles in (unixd, log_config) only when they are missing.
"""

from __future__ import annotations

from sessionstack import templating

# Official image, pinned to a patch release and its Debian base (never a moving tag). 2.4.71 is the
# release Debian 12 ships as a security update (2.4.71-1~deb12u1), so the image and the apache2
# binary the tests run are the same upstream version.
APACHE_IMAGE = "httpd:2.4.71-trixie"
APACHE_PORT = 8080
"""Non-root: a high port, so the container needs no NET_BIND_SERVICE capability."""
APACHE_UID = 33
"""www-data in the official (Debian-based) image; the pod runs as this uid, never as root."""

SERVER_ROOT = "/usr/local/apache2"
"""The official image's ServerRoot (modules in SERVER_ROOT/modules)."""
CONF_DIR = "/etc/sessionstack/httpd"
"""ConfigMap mount (read-only): httpd.conf and the health file."""
DOCUMENT_ROOT = "/usr/local/apache2/htdocs"
"""ConfigMap mount (read-only) with the static site."""
RUN_DIR = "/usr/local/apache2/logs"
"""Writable emptyDir: pid file and runtime files (mutexes). The root filesystem is read-only."""

CONF_FILE = "httpd.conf"
HEALTH_FILE = "healthz"
HEALTH_PATH = "/healthz"
"""Probe path. Not static by the routing rules, so routers send it to WildFly, never here."""
HEALTH_BODY = "ok\n"

HTML_MAX_AGE_SECONDS = 300
"""Pages may change on any deploy; browsers revalidate them after five minutes."""
ASSET_MAX_AGE_SECONDS = 7 * 24 * 3600
"""CSS, JS, images, fonts: a week. Not a year with ``immutable``: the file names carry no content
hash, so a changed site.css must reach browsers within a bounded time."""
DOWNLOAD_MAX_AGE_SECONDS = 24 * 3600
"""Archives, documents and media: a day."""

# extension -> (Content-Type, max-age seconds). Every routed static extension has an entry (a test
# keeps it so): the config carries its own types instead of depending on the image's mime.types
# (the official image has conf/mime.types, Debian /etc/mime.types).
STATIC_TYPES: dict[str, tuple[str, int]] = {
    "html": ("text/html; charset=utf-8", HTML_MAX_AGE_SECONDS),
    "htm": ("text/html; charset=utf-8", HTML_MAX_AGE_SECONDS),
    "txt": ("text/plain; charset=utf-8", HTML_MAX_AGE_SECONDS),
    "pdf": ("application/pdf", DOWNLOAD_MAX_AGE_SECONDS),
    "css": ("text/css; charset=utf-8", ASSET_MAX_AGE_SECONDS),
    "js": ("text/javascript; charset=utf-8", ASSET_MAX_AGE_SECONDS),
    "mjs": ("text/javascript; charset=utf-8", ASSET_MAX_AGE_SECONDS),
    "map": ("application/json", ASSET_MAX_AGE_SECONDS),
    "png": ("image/png", ASSET_MAX_AGE_SECONDS),
    "jpg": ("image/jpeg", ASSET_MAX_AGE_SECONDS),
    "jpeg": ("image/jpeg", ASSET_MAX_AGE_SECONDS),
    "gif": ("image/gif", ASSET_MAX_AGE_SECONDS),
    "svg": ("image/svg+xml", ASSET_MAX_AGE_SECONDS),
    "webp": ("image/webp", ASSET_MAX_AGE_SECONDS),
    "avif": ("image/avif", ASSET_MAX_AGE_SECONDS),
    "ico": ("image/vnd.microsoft.icon", ASSET_MAX_AGE_SECONDS),
    "bmp": ("image/bmp", ASSET_MAX_AGE_SECONDS),
    "woff2": ("font/woff2", ASSET_MAX_AGE_SECONDS),
    "woff": ("font/woff", ASSET_MAX_AGE_SECONDS),
    "ttf": ("font/ttf", ASSET_MAX_AGE_SECONDS),
    "otf": ("font/otf", ASSET_MAX_AGE_SECONDS),
    "zip": ("application/zip", DOWNLOAD_MAX_AGE_SECONDS),
    "gz": ("application/gzip", DOWNLOAD_MAX_AGE_SECONDS),
    "mp4": ("video/mp4", DOWNLOAD_MAX_AGE_SECONDS),
    "webm": ("video/webm", DOWNLOAD_MAX_AGE_SECONDS),
}

# Modules loaded unconditionally: shared objects in both the official image and Debian.
_MODULES = (
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("dir_module", "mod_dir.so"),
    ("alias_module", "mod_alias.so"),
    ("headers_module", "mod_headers.so"),
    ("expires_module", "mod_expires.so"),
)
# Compiled into Debian's apache2, shared in the official image: load only when absent.
_MAYBE_BUILTIN_MODULES = (
    ("unixd_module", "mod_unixd.so"),
    ("log_config_module", "mod_log_config.so"),
)


def httpd_conf(
    server_root: str = SERVER_ROOT,
    modules_dir: str = "modules",
    port: int = APACHE_PORT,
    document_root: str = DOCUMENT_ROOT,
    run_dir: str | None = None,
    conf_dir: str = CONF_DIR,
    user: str | None = "www-data",
) -> str:
    """A complete httpd.conf for the static tier (templates/apache/httpd.conf).

    ``modules_dir`` is relative to ``server_root`` or absolute (Debian: /usr/lib/apache2/modules).
    ``run_dir`` (default ``<server_root>/logs``) must be writable. ``user``/``group`` only matter when
    httpd starts as root (tests on the host); the pod starts as APACHE_UID and keeps it.
    """
    by_type: dict[str, int] = {}
    for mime, age in STATIC_TYPES.values():
        by_type.setdefault(mime.split(";")[0], age)
    return templating.fill(
        templating.read("apache", "httpd.conf"),
        {
            "SERVER_ROOT": server_root,
            "PORT": port,
            "RUN_DIR": f"{server_root}/logs" if run_dir is None else run_dir,
            "DOCUMENT_ROOT": document_root,
            "CONF_DIR": conf_dir,
            "MODULES": "\n".join(f"LoadModule {name} {modules_dir}/{so}" for name, so in _MODULES),
            "MAYBE_BUILTIN_MODULES": "\n".join(
                f"<IfModule !{name}>\n    LoadModule {name} {modules_dir}/{so}\n</IfModule>" for name, so in _MAYBE_BUILTIN_MODULES
            ),
            "USER_LINES": f"User {user}\nGroup {user}\n" if user else "",
            "TYPES": "\n".join(f'AddType "{mime}" .{ext}' for ext, (mime, _) in STATIC_TYPES.items()),
            "EXPIRES": "\n".join(f'ExpiresByType {mime} "access plus {age} seconds"' for mime, age in by_type.items()),
            "LONG_LIVED": "|".join(ext for ext, (_, age) in STATIC_TYPES.items() if age >= ASSET_MAX_AGE_SECONDS),
            "HEALTH_PATH": HEALTH_PATH,
            "HEALTH_FILE": HEALTH_FILE,
        },
    )


def config_files(**httpd_conf_kwargs: object) -> dict[str, str]:
    """The ConfigMap data mounted at CONF_DIR: httpd.conf and the health file it aliases."""
    return {CONF_FILE: httpd_conf(**httpd_conf_kwargs), HEALTH_FILE: HEALTH_BODY}  # type: ignore[arg-type]


def httpd_command(conf_dir: str = CONF_DIR) -> list[str]:
    """Container command: httpd in the foreground on our config (the image's default is port 80)."""
    return [f"{SERVER_ROOT}/bin/httpd", "-f", f"{conf_dir}/{CONF_FILE}", "-DFOREGROUND"]


def configmap_key(path: str) -> str:
    """ConfigMap keys cannot contain '/': ``css/site.css`` -> ``css__site.css`` (team convention)."""
    if not path or path.startswith("/") or "__" in path or ".." in path.split("/"):
        raise ValueError(f"site path must be relative, without '..' segments or '__', got {path!r}")
    return path.replace("/", "__")


def configmap_items(files: dict[str, str]) -> list[dict[str, str]]:
    """``items`` for the volume: each key mapped back to its path, so the mount is the site tree."""
    return [{"key": configmap_key(path), "path": path} for path in sorted(files)]


def configmap_data(files: dict[str, str]) -> dict[str, str]:
    return {configmap_key(path): body for path, body in sorted(files.items())}


STATIC_SITE_FILES: dict[str, str] = {
    "index.html": """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sessionstack</title>
  <link rel="stylesheet" href="/css/site.css">
  <link rel="icon" href="/img/logo.svg" type="image/svg+xml">
</head>
<body>
  <header><img src="/img/logo.svg" alt="" width="48" height="48"><h1>sessionstack</h1></header>
  <main>
    <p>This page, its stylesheet, script and logo come from the Apache static tier.</p>
    <p>The <a href="/session-demo/">session demo</a> is served by the WildFly cluster: reload it and
       the counter keeps counting, whichever pod answers.</p>
    <p id="served-by" data-tier="apache">Static tier: Apache httpd</p>
  </main>
  <script src="/js/app.js" defer></script>
</body>
</html>
""",
    "css/site.css": """\
:root { --ink: #1d2433; --accent: #2a7ab0; }
body { font-family: system-ui, sans-serif; color: var(--ink); max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
header { display: flex; align-items: center; gap: 1rem; }
a { color: var(--accent); }
#served-by { font-size: .9rem; opacity: .7; }
""",
    "js/app.js": """\
// Shows that the script came from the static tier and when the page was loaded.
document.addEventListener("DOMContentLoaded", () => {
  const note = document.getElementById("served-by");
  if (note) {
    note.textContent += " - page loaded " + new Date().toISOString();
  }
});
""",
    "img/logo.svg": """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" role="img" aria-label="sessionstack">
  <rect x="6" y="30" width="36" height="10" rx="3" fill="#2a7ab0"/>
  <rect x="10" y="19" width="28" height="10" rx="3" fill="#4b9bd0"/>
  <rect x="14" y="8" width="20" height="10" rx="3" fill="#7cbbe6"/>
</svg>
""",
}
