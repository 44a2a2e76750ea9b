#!/usr/bin/env python3
"""Container images for the single-node cluster, built here as OCI image layouts.

STAND-INS: no container registry is reachable from this project's machines, so the images the
stack pins (quay.io/wildfly/wildfly, httpd, redis) and the cluster's own add-ons cannot be pulled.
Each image here is built from Debian packages (mmdebstrap), the WildFly distribution from Maven
Central, or a binary that tools/cluster/build.sh built from the Go module proxy, and is tagged
exactly as the stack pins it. What each stand-in reproduces of the upstream image is its
*contract*: the paths, users, environment, entrypoint and ports the components rely on
(`CONTRACTS`, checked by tests/cluster/test_images.py). What it does not reproduce (the upstream
base OS, the exact server build) is said in tools/cluster/README.md.

    python3 -m onenode.images build --bin DIR --wildfly-home DIR --war FILE   build what is missing, print the set dir
    python3 -m onenode.images list                                         print each image reference

The set dir holds `images.json` ({reference: layout dir}) and is keyed by the inputs, so a warm run
only hashes a few files. Layouts live in $SESSIONSTACK_CLUSTER_CACHE/images (~/.cache/sessionstack/
cluster/images); each is one OCI image layout with uncompressed layers, imported by cluster.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from onenode import store
from onenode.oci import (
    CAP_NET_BIND_SERVICE,
    Entry,
    add_account,
    chown_tree,
    debian_rootfs,
    dirs_for,
    run,
    sha256_file,
    tar_dir,
    tar_entries,
    write_layout,
)

CLUSTER = Path(__file__).resolve().parent.parent
"""tools/cluster"""
REPO = CLUSTER.parent.parent
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def versions() -> dict[str, str]:
    """versions.env as a dict (KEY=value lines; comments and blanks ignored)."""
    out = {}
    for line in (CLUSTER / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip('"')
    return out


def wildfly_version() -> str:
    sys.path.insert(0, str(REPO / "components"))
    from sessionstack.wildfly_config import WILDFLY_VERSION  # the one place the stack pins it

    return WILDFLY_VERSION


def image_refs() -> dict[str, str]:
    """Role -> image reference. The stack's images come from the components' own constants."""
    sys.path.insert(0, str(REPO / "components"))
    from sessionstack.apache_config import APACHE_IMAGE
    from sessionstack.redis_config import REDIS_IMAGE
    from sessionstack.wildfly_config import WILDFLY_IMAGE

    v = versions()
    return {
        "wildfly": WILDFLY_IMAGE,
        "httpd": APACHE_IMAGE,
        "redis": REDIS_IMAGE,
        "spring-session-demo": spring_demo_ref(),
        "pause": f"sessionstack.local/pause:{v['PAUSE_VERSION']}",
        "busybox": f"sessionstack.local/busybox:{v['BUSYBOX_VERSION']}",
        "toolbox": f"sessionstack.local/toolbox:{v['TOOLBOX_VERSION']}",
        "router": f"sessionstack.local/router:{v['ROUTER_VERSION']}",
        "coredns": f"sessionstack.local/coredns:{v['COREDNS_VERSION']}",
        "local-path-provisioner": f"sessionstack.local/local-path-provisioner:{v['LOCAL_PATH_PROVISIONER_VERSION']}",
        # The name the Envoy Gateway chart (values.yaml, as its release makes it) deploys.
        "envoy-gateway": f"docker.io/envoyproxy/gateway:{v['ENVOY_GATEWAY_VERSION']}",
    }


def spring_demo_ref() -> str:
    """The tag the Spring Session demo's Dockerfile documents (`docker build -t ...`)."""
    for line in (REPO / "apps/spring-session-demo/Dockerfile").read_text().splitlines():
        words = line.lstrip("# ").split()
        if words[:2] == ["docker", "build"] and "-t" in words:
            return words[words.index("-t") + 1]
    raise SystemExit("apps/spring-session-demo/Dockerfile: no `docker build -t <tag>` line names its tag")


# --- the contracts ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Contract:
    """What the components (or the cluster's manifests) rely on in an image."""

    user: str = ""
    """The image's USER ('' = root)."""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    workdir: str = ""
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    ports: tuple[str, ...] = ()
    users: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    """Accounts /etc/passwd must hold: name -> (uid, gid)."""
    files: dict[str, tuple[int, int, int]] = dataclasses.field(default_factory=dict)
    """Paths that must exist: path -> (uid, gid, mode bits that must be set)."""
    stop_signal: str = ""


def contracts() -> dict[str, Contract]:
    wf = wildfly_version()
    jboss_home = "/opt/jboss/wildfly"
    return {
        # quay.io/wildfly/wildfly (github.com/wildfly/wildfly-container: eclipse-temurin on UBI 9):
        # jboss 1000:1000 with home /opt/jboss, JBOSS_HOME owned jboss:0 and group-writable,
        # JAVA_HOME=/opt/java/openjdk, LAUNCH_JBOSS_IN_BACKGROUND so SIGTERM reaches the JVM.
        "wildfly": Contract(
            user="jboss",
            env={"JBOSS_HOME": jboss_home, "WILDFLY_VERSION": wf, "LAUNCH_JBOSS_IN_BACKGROUND": "true", "JAVA_HOME": "/opt/java/openjdk"},
            workdir="/opt/jboss",
            cmd=[f"{jboss_home}/bin/standalone.sh", "-b", "0.0.0.0"],
            ports=("8080/tcp",),
            users={"jboss": (1000, 1000)},
            files={
                "/opt/jboss": (1000, 1000, 0o755),
                f"{jboss_home}/bin/standalone.sh": (1000, 0, 0o770),
                f"{jboss_home}/standalone/configuration/standalone-ha.xml": (1000, 0, 0o660),
                "/opt/java/openjdk/bin/java": (0, 0, 0o755),
                "/bin/bash": (0, 0, 0o755),
            },
        ),
        # httpd (docker-library/httpd): ServerRoot /usr/local/apache2 with bin/httpd and modules/,
        # httpd-foreground as CMD, www-data = 33, SIGWINCH for a graceful stop.
        "httpd": Contract(
            env={"HTTPD_PREFIX": "/usr/local/apache2"},
            workdir="/usr/local/apache2",
            cmd=["httpd-foreground"],
            ports=("80/tcp",),
            users={"www-data": (33, 33)},
            files={
                "/usr/local/apache2/bin/httpd": (0, 0, 0o755),
                "/usr/local/apache2/modules/mod_mpm_event.so": (0, 0, 0o644),
                "/usr/local/apache2/modules/mod_headers.so": (0, 0, 0o644),
                "/usr/local/apache2/conf/mime.types": (0, 0, 0o644),
                "/usr/local/bin/httpd-foreground": (0, 0, 0o755),
            },
            stop_signal="SIGWINCH",
        ),
        # redis (docker-library/redis): redis 999:999, /data as workdir owned by it, the entrypoint
        # that runs `redis-server ...` (dropping to redis when started as root), redis-cli on PATH.
        "redis": Contract(
            workdir="/data",
            entrypoint=["docker-entrypoint.sh"],
            cmd=["redis-server"],
            ports=("6379/tcp",),
            users={"redis": (999, 999)},
            files={
                "/data": (999, 999, 0o755),
                "/usr/local/bin/docker-entrypoint.sh": (0, 0, 0o755),
                "/usr/bin/redis-server": (0, 0, 0o755),
                "/usr/bin/redis-cli": (0, 0, 0o755),
                "/bin/sh": (0, 0, 0o755),
            },
        ),
    }


def oci_config(c: Contract, env: dict[str, str] | None = None) -> dict:
    """The image config fields from a contract (plus extra environment)."""
    config: dict = {"Env": [PATH_ENV] + [f"{k}={v}" for k, v in {**c.env, **(env or {})}.items()]}
    if c.user:
        config["User"] = c.user
    if c.workdir:
        config["WorkingDir"] = c.workdir
    if c.entrypoint is not None:
        config["Entrypoint"] = c.entrypoint
    if c.cmd is not None:
        config["Cmd"] = c.cmd
    if c.ports:
        config["ExposedPorts"] = {p: {} for p in c.ports}
    if c.stop_signal:
        config["StopSignal"] = c.stop_signal
    return config


# --- the images ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Inputs:
    bin_dir: Path
    wildfly_home: Path
    war: Path


@dataclasses.dataclass
class Recipe:
    role: str
    fingerprint: Callable[[Inputs], list[str]]
    """What the image is made of, beyond this file and versions.env (paths are hashed by content)."""
    build: Callable[[Path, Inputs, dict[str, Path]], tuple[list[Path], dict, str | None]]
    """(work dir, inputs, built layouts by role) -> (layer tars, config, base role or None)."""


def build_wildfly(work: Path, inputs: Inputs, _built: dict[str, Path]):
    c = contracts()["wildfly"]
    root = work / "rootfs"
    debian_rootfs(root, "trixie", ["openjdk-21-jre-headless", "procps"])
    jdk = next((root / "usr/lib/jvm").glob("java-21-openjdk-*"))
    (root / "opt/java").mkdir(parents=True)
    (root / "opt/java/openjdk").symlink_to(f"/usr/lib/jvm/{jdk.name}")
    add_account(root, "jboss", 1000, 1000, "/opt/jboss", "/sbin/nologin", "JBoss user")
    home = root / "opt/jboss"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    os.chown(home, 1000, 1000)
    shutil.copytree(inputs.wildfly_home, home / "wildfly", symlinks=True)
    chown_tree(home / "wildfly", 1000, 0)
    subprocess.run(["chmod", "-R", "g+rw", str(home / "wildfly")], check=True)
    layer = work / "rootfs.tar"
    tar_dir(root, layer)
    return [layer], oci_config(c), None


ENTRYPOINT_REDIS = """#!/bin/sh
# sessionstack stand-in for the redis image's entrypoint: a first argument that is an option or a
# .conf file means redis-server; redis-server started as root runs as the redis user in /data.
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \\! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
"""

HTTPD_FOREGROUND = """#!/bin/sh
# sessionstack stand-in for the httpd image's httpd-foreground: a stale pid file must not stop a
# restarted container, then httpd in the foreground.
set -e
rm -f /usr/local/apache2/logs/httpd.pid
exec httpd -DFOREGROUND "$@"
"""

HTTPD_DEFAULT_CONF = """# sessionstack stand-in image: the default configuration (port 80, the htdocs page).
ServerRoot "/usr/local/apache2"
Listen 80
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule mime_module modules/mod_mime.so
LoadModule dir_module modules/mod_dir.so
User daemon
Group daemon
DocumentRoot "/usr/local/apache2/htdocs"
DirectoryIndex index.html
TypesConfig conf/mime.types
ErrorLog /proc/self/fd/2
PidFile logs/httpd.pid
"""


def build_httpd(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    c = contracts()["httpd"]
    root = work / "rootfs"
    # bookworm: its apache2 (2.4.71-1~deb12u1) is the upstream release the stack pins.
    debian_rootfs(root, "bookworm", ["apache2-bin", "media-types"])
    prefix = root / "usr/local/apache2"
    for d in ("bin", "conf", "htdocs", "logs"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    (prefix / "bin/httpd").symlink_to("/usr/sbin/apache2")
    (prefix / "modules").symlink_to("/usr/lib/apache2/modules")
    shutil.copy(root / "etc/mime.types", prefix / "conf/mime.types")
    (prefix / "conf/httpd.conf").write_text(HTTPD_DEFAULT_CONF)
    (prefix / "htdocs/index.html").write_text("<html><body><h1>It works!</h1></body></html>\n")
    script = root / "usr/local/bin/httpd-foreground"
    script.write_text(HTTPD_FOREGROUND)
    script.chmod(0o755)
    layer = work / "rootfs.tar"
    tar_dir(root, layer)
    return [layer], oci_config(c, {"PATH": "/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}), None


def build_redis(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    c = contracts()["redis"]
    root = work / "rootfs"
    # The account exists before the package's postinst runs adduser, so it keeps uid/gid 999.
    hook = (
        'echo "redis:x:999:999::/var/lib/redis:/usr/sbin/nologin" >> "$1/etc/passwd" && '
        'echo "redis:x:999:" >> "$1/etc/group"'
    )
    debian_rootfs(root, "bookworm", ["redis-server", "redis-tools"], essential_hook=hook)
    data = root / "data"
    data.mkdir()
    os.chown(data, 999, 999)
    script = root / "usr/local/bin/docker-entrypoint.sh"
    script.write_text(ENTRYPOINT_REDIS)
    script.chmod(0o755)
    layer = work / "rootfs.tar"
    tar_dir(root, layer)
    return [layer], oci_config(c), None


def build_spring_demo(work: Path, inputs: Inputs, built: dict[str, Path]):
    """apps/spring-session-demo/Dockerfile, read as written: FROM + COPY --chown (nothing else)."""
    dockerfile = REPO / "apps/spring-session-demo/Dockerfile"
    context = dockerfile.parent
    base_ref, entries = None, []
    users = contracts()["wildfly"].users
    refs = {ref: role for role, ref in image_refs().items()}
    for raw in dockerfile.read_text().splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        op = words[0].upper()
        if op == "FROM":
            base_ref = words[1]
            if refs.get(base_ref) != "wildfly":
                raise SystemExit(f"{dockerfile}: FROM {base_ref}: only the WildFly image is built here")
        elif op == "COPY":
            args = words[1:]
            uid = gid = 0
            if args[0].startswith("--chown="):
                user, _, group = args.pop(0).split("=", 1)[1].partition(":")
                uid, gid = users[user][0], users[group or user][1]
            *sources, target = args
            for src in sources:
                path = inputs.war if src == "target/session-demo.war" else context / src
                entries.append(Entry(target, 0o644, uid, gid, source=path))
        else:
            raise SystemExit(f"{dockerfile}: {op} is not supported by the local image builder (FROM and COPY only)")
    wf_home = contracts()["wildfly"].env["JBOSS_HOME"]
    parents = [e for e in dirs_for([e.path for e in entries]) if e.path.startswith(wf_home)]
    for p in parents:
        p.uid, p.gid, p.mode = 1000, 0, 0o775
    layer = work / "app.tar"
    tar_entries(parents + entries, layer)
    return [layer], {}, "wildfly"


def scratch(binary: str, dest: str, entrypoint: list[str], user: str, capabilities: tuple[int, ...] = ()):
    def build(work: Path, inputs: Inputs, _built: dict[str, Path]):
        layer = work / "layer.tar"
        tar_entries(dirs_for([dest]) + [Entry(dest, 0o755, source=inputs.bin_dir / binary, capabilities=capabilities)], layer)
        return [layer], {"Env": [PATH_ENV], "Entrypoint": entrypoint, "User": user}, None

    return build


def build_pause(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    binary = work / "pause"
    run(["gcc", "-O2", "-static", "-o", str(binary), str(CLUSTER / "images/pause.c")])
    layer = work / "layer.tar"
    tar_entries([Entry("/pause", 0o755, source=binary)], layer)
    return [layer], {"Env": [PATH_ENV], "Entrypoint": ["/pause"], "User": "65535:65535"}, None


def build_busybox(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    """Debian's busybox-static with a link per applet (the local-path helper pods run sh, mkdir, rm)."""
    busybox = Path("/bin/busybox")
    applets = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout.split()
    entries = [Entry("/bin", 0o755, directory=True), Entry("/tmp", 0o1777, directory=True), Entry("/bin/busybox", 0o755, source=busybox)]
    entries += [Entry(f"/bin/{a}", 0o777, link="busybox") for a in applets if a != "busybox"]
    layer = work / "layer.tar"
    tar_entries(entries, layer)
    return [layer], {"Env": [PATH_ENV], "Cmd": ["sh"]}, None


def build_toolbox(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    """A client for the tests' probes inside the cluster: curl, redis-cli, nc, getent."""
    root = work / "rootfs"
    debian_rootfs(root, "bookworm", ["curl", "redis-tools", "netcat-openbsd"])
    layer = work / "rootfs.tar"
    tar_dir(root, layer)
    return [layer], {"Env": [PATH_ENV], "Cmd": ["sh"], "User": "65532:65532"}, None


def build_router(work: Path, _inputs: Inputs, _built: dict[str, Path]):
    """The tests' router: Debian's nginx, unprivileged."""
    root = work / "rootfs"
    debian_rootfs(root, "bookworm", ["nginx"])
    layer = work / "rootfs.tar"
    tar_dir(root, layer)
    return [layer], {"Env": [PATH_ENV], "Cmd": ["nginx", "-g", "daemon off;"], "User": "65532:65532"}, None


def _file_hash(path: Path) -> str:
    return sha256_file(path) if path.is_file() else f"missing:{path}"


RECIPES = [
    Recipe("wildfly", lambda i: [wildfly_version()], build_wildfly),
    Recipe("httpd", lambda i: [], build_httpd),
    Recipe("redis", lambda i: [], build_redis),
    Recipe("spring-session-demo", lambda i: [_file_hash(i.war), (REPO / "apps/spring-session-demo/Dockerfile").read_text()], build_spring_demo),
    Recipe("pause", lambda i: [(CLUSTER / "images/pause.c").read_text()], build_pause),
    Recipe("busybox", lambda i: [_file_hash(Path("/bin/busybox"))], build_busybox),
    Recipe("toolbox", lambda i: [], build_toolbox),
    Recipe("router", lambda i: [], build_router),
    # Upstream: distroless nonroot, and `setcap cap_net_bind_service=+ep /coredns` so that port 53
    # binds without root (the manifest adds the capability and forbids privilege escalation).
    Recipe(
        "coredns",
        lambda i: [_file_hash(i.bin_dir / "coredns")],
        scratch("coredns", "/coredns", ["/coredns"], "65532:65532", capabilities=(CAP_NET_BIND_SERVICE,)),
    ),
    Recipe(
        "local-path-provisioner",
        lambda i: [_file_hash(i.bin_dir / "local-path-provisioner")],
        scratch("local-path-provisioner", "/usr/bin/local-path-provisioner", ["local-path-provisioner"], "65532:65532"),
    ),
    # Upstream: distroless, /usr/local/bin/envoy-gateway as entrypoint, user 65532.
    Recipe(
        "envoy-gateway",
        lambda i: [_file_hash(i.bin_dir / "envoy-gateway")],
        scratch("envoy-gateway", "/usr/local/bin/envoy-gateway", ["/usr/local/bin/envoy-gateway"], "65532:65532"),
    ),
]


def cache_root() -> Path:
    base = os.environ.get("SESSIONSTACK_CLUSTER_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sessionstack/cluster")
    return Path(base) / "images"


def build_all(inputs: Inputs) -> Path:
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    refs = image_refs()
    own = hashlib.sha256(b"".join(p.read_bytes() for p in (Path(__file__), Path(__file__).with_name("oci.py"), CLUSTER / "versions.env"))).hexdigest()
    built: dict[str, Path] = {}
    keys: dict[str, str] = {}
    for recipe in RECIPES:
        h = hashlib.sha256(own.encode())
        for part in [refs[recipe.role], *recipe.fingerprint(inputs)]:
            h.update(part.encode() + b"\0")
        keys[recipe.role] = h.hexdigest()[:12]
    for recipe in RECIPES:
        key = keys[recipe.role]
        if recipe.role == "spring-session-demo":
            key = hashlib.sha256((key + keys["wildfly"]).encode()).hexdigest()[:12]
        dest = root / f"{recipe.role}-{key}"
        if not (dest / ".complete").exists():
            start = time.monotonic()
            shutil.rmtree(dest, ignore_errors=True)
            with tempfile.TemporaryDirectory(dir=root, prefix=f".tmp-{recipe.role}-") as tmp:
                work = Path(tmp)
                layers, config, base = recipe.build(work, inputs, built)
                layout = work / "layout"
                write_layout(layout, refs[recipe.role], layers, config, built[base] if base else None)
                layout.rename(dest)
            (dest / ".complete").write_text(f"built in {time.monotonic() - start:.0f}s\n")
            print(f"images: {refs[recipe.role]} built into {dest}", file=sys.stderr)
        built[recipe.role] = dest
    set_key = hashlib.sha256("".join(str(built[r.role]) for r in RECIPES).encode()).hexdigest()[:12]
    set_dir = root / f"set-{set_key}"
    image_set = {refs[r.role]: str(built[r.role]) for r in RECIPES}
    if not (set_dir / "images.json").exists():
        set_dir.mkdir(exist_ok=True)
        (set_dir / "images.json").write_text(json.dumps(image_set, indent=1))
    start = time.monotonic()
    if not (set_dir / store.GOLDEN / ".complete").exists():
        store.seed(set_dir / store.GOLDEN, image_set)
        print(f"images: containerd store seeded in {time.monotonic() - start:.0f}s", file=sys.stderr)
    prune(root, keep={set_dir, *built.values()})
    return set_dir


def prune(root: Path, keep: set[Path]) -> None:
    """Older builds of the images and older sets: each is a few hundred MB, none is used again."""
    for entry in root.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and entry not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the images that are missing; print the set dir")
    b.add_argument("--bin", required=True, type=Path, help="tools/cluster/build.sh's bin dir")
    b.add_argument("--wildfly-home", required=True, type=Path, help="the unpacked WildFly distribution")
    b.add_argument("--war", required=True, type=Path, help="apps/spring-session-demo/target/session-demo.war")
    sub.add_parser("list", help="print each image reference")
    args = parser.parse_args(argv)
    if args.command == "list":
        for ref in image_refs().values():
            print(ref)
        return 0
    if os.geteuid() != 0:
        print("images: needs root (mmdebstrap and file ownership in the layers)", file=sys.stderr)
        return 1
    print(build_all(Inputs(args.bin.resolve(), args.wildfly_home.resolve(), args.war.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
