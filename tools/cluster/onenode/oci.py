"""Building blocks of container images without a container engine: Debian root filesystems
(mmdebstrap), layer tarballs, and OCI image layouts that containerd imports.

Pure file work, run as root (ownership in the layers). images.py composes these into the images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
# Keep images small: no manuals, docs or translations.
DPKG_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*")


def normalize(ref: str) -> str:
    """A reference as containerd's CRI names it: `redis:8` -> `docker.io/library/redis:8`."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name


# --- layers -------------------------------------------------------------------------------------

def run(cmd: list[str], **kw) -> None:
    print("images: " + " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else ""), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)


def debian_rootfs(dest: Path, suite: str, packages: list[str], essential_hook: str = "") -> None:
    """A Debian root filesystem (the `essential` set plus `packages`) in the empty dir `dest`."""
    cmd = ["mmdebstrap", "--variant=essential", "--quiet", f"--include={','.join(packages)}"]
    cmd += [f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES]
    cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright"]
    # update-alternatives links man pages too (openjdk does): the dir must exist though the pages don't.
    cmd.append('--essential-hook=mkdir -p "$1/usr/share/man/man1"')
    if essential_hook:
        cmd.append(f"--essential-hook={essential_hook}")
    sources = [
        f"deb {DEBIAN_MIRROR} {suite} main",
        f"deb {DEBIAN_MIRROR} {suite}-updates main",
        f"deb {DEBIAN_SECURITY} {suite}-security main",
    ]
    run(cmd + [suite, str(dest), *sources])
    # mmdebstrap leaves the device nodes it needed; the runtime mounts its own /dev.
    for node in (dest / "dev").iterdir():
        if node.is_dir() and not node.is_symlink():
            shutil.rmtree(node)
        else:
            node.unlink()


def add_account(root: Path, name: str, uid: int, gid: int, home: str, shell: str = "/usr/sbin/nologin", gecos: str = "") -> None:
    """passwd/group entries (the base images' useradd/groupadd, without the shadow tools)."""
    passwd = root / "etc/passwd"
    group = root / "etc/group"
    if not any(line.split(":")[0] == name for line in group.read_text().splitlines()):
        with group.open("a") as f:
            f.write(f"{name}:x:{gid}:\n")
    if not any(line.split(":")[0] == name for line in passwd.read_text().splitlines()):
        with passwd.open("a") as f:
            f.write(f"{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}\n")


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    for base, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(base, n), uid, gid)


def tar_dir(root: Path, out: Path) -> None:
    """The directory as a layer: numeric owners, sorted, so equal trees give equal tars."""
    run(["tar", "--numeric-owner", "--sort=name", "--xattrs", "-C", str(root), "-cf", str(out), "."])


@dataclasses.dataclass
class Entry:
    path: str
    mode: int
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = None
    link: str | None = None
    directory: bool = False
    capabilities: tuple[int, ...] = ()
    """File capabilities (cap numbers), permitted and effective, as `setcap cap_x=+ep` sets them."""


CAP_NET_BIND_SERVICE = 10


def file_capabilities(caps: tuple[int, ...]) -> bytes:
    """The security.capability xattr (vfs_cap_data, revision 2): effective, permitted = caps."""
    permitted = [0, 0]
    for cap in caps:
        permitted[cap // 32] |= 1 << (cap % 32)
    return struct.pack("<IIIII", 0x02000000 | 0x000001, permitted[0], 0, permitted[1], 0)


def tar_entries(entries: list[Entry], out: Path) -> None:
    """A layer made of listed entries (scratch images); mtime 0 so it is reproducible."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path.lstrip("/"))
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, 0
            if e.capabilities:
                # A PAX xattr record, as GNU tar --xattrs writes it; containerd applies it on unpack.
                raw = file_capabilities(e.capabilities).decode("utf-8", "surrogateescape")
                info.pax_headers = {"SCHILY.xattr.security.capability": raw}
            if e.directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, e.link
                tar.addfile(info)
            else:
                data = e.data if e.data is not None else e.source.read_bytes()  # type: ignore[union-attr]
                info.size = len(data)
                tar.addfile(info, fileobj=_Bytes(data))


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos:end], min(end, len(self.data))
        return chunk


def dirs_for(paths: list[str], mode: int = 0o755) -> list[Entry]:
    """Directory entries for every parent of `paths`."""
    parents = {str(Path(p).parent) for p in paths}
    every = set()
    for p in parents:
        while p not in ("/", ""):
            every.add(p)
            p = str(Path(p).parent)
    return [Entry(p, mode, directory=True) for p in sorted(every)]


# --- the OCI image layout -------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_layout(dest: Path, ref: str, layers: list[Path], config: dict, base: Path | None = None) -> None:
    """An OCI image layout: `base`'s layers (if any), then `layers` (moved in), and `config`."""
    blobs = dest / "blobs/sha256"
    blobs.mkdir(parents=True)
    layer_descs, diff_ids, history = [], [], []
    if base is not None:
        base_manifest, base_config = read_layout(base)
        for desc in base_manifest["layers"]:
            digest = desc["digest"].split(":", 1)[1]
            os.link(base / "blobs/sha256" / digest, blobs / digest)
            layer_descs.append(desc)
        diff_ids += base_config["rootfs"]["diff_ids"]
        history += base_config.get("history", [])
        merged = dict(base_config["config"])
        merged.update(config)
        config = merged
    for layer in layers:
        digest = sha256_file(layer)
        size = layer.stat().st_size
        shutil.move(layer, blobs / digest)
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{digest}", "size": size})
        diff_ids.append(f"sha256:{digest}")
        history.append({"created_by": f"sessionstack tools/cluster/images.py ({ref})"})
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_desc = _blob(blobs, image_config, "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": layer_descs,
        "annotations": {"org.opencontainers.image.description": "sessionstack local stand-in, see tools/cluster/README.md"},
    }
    manifest_desc = _blob(blobs, manifest, "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": normalize(ref), "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1]}
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}))
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _blob(blobs: Path, doc: dict, media_type: str) -> dict:
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def read_layout(layout: Path) -> tuple[dict, dict]:
    """(manifest, image config) of a one-image layout."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"].split(":", 1)[1]).read_text())
    return manifest, config
