"""containerd's image store for the node: imported once per image set, cloned at every start.

Importing the ~1.5 GB of images (content, then unpacked overlayfs snapshots) takes most of a
minute on this machine. So `seed` imports an image set once into a containerd root of its own in
the cache (a throwaway containerd, in a private mount namespace, CRI plugin off), and each start
`clone`s it: a tree of hard links for the content blobs and the unpacked snapshots (never
written in place: overlayfs only reads its lower layers, and a container's writes go to a new
upper snapshot) and real copies of the two bolt databases, which containerd does write. A clone
takes about a second; where hard links are impossible (another file system) the start imports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from onenode.oci import normalize

GOLDEN = "containerd-root"
"""The seeded root's name in an image set's dir."""
NAMESPACE = "k8s.io"
"""The containerd namespace the CRI plugin (so the kubelet) sees."""
DATABASES = ("io.containerd.metadata.v1.bolt/meta.db", "io.containerd.snapshotter.v1.overlayfs/metadata.db")


def import_images(ctr: list[str], image_set: dict[str, str]) -> None:
    """Imports every layout of `image_set` ({reference: OCI layout dir}) with `ctr` (its argv up to
    the subcommand), unpacked for the overlayfs snapshotter; checks that each one is listed."""
    for ref, layout in image_set.items():
        tar = subprocess.Popen(["tar", "-C", layout, "--exclude=./.complete", "-cf", "-", "."], stdout=subprocess.PIPE)
        result = subprocess.run(ctr + ["images", "import", "-"], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if result.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"importing {ref} from {layout} failed: {result.stderr.strip()}")
    listed = subprocess.run(ctr + ["images", "list", "--quiet"], capture_output=True, text=True, check=True).stdout.split()
    missing = [ref for ref in image_set if normalize(ref) not in listed]
    if missing:
        raise RuntimeError(f"images missing after import: {missing}")


SEED_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{state}/opt"
"""


def seed(golden: Path, image_set: dict[str, str]) -> None:
    """A containerd root at `golden` holding `image_set`, unless one is there already."""
    if (golden / ".complete").exists():
        return
    shutil.rmtree(golden, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="seed-", dir=golden.parent) as tmp:
        work = Path(tmp)
        root, socket = work / "root", work / "c.sock"
        (work / "config.toml").write_text(SEED_CONFIG.format(root=root, state=work / "state", socket=socket))
        log = (work / "containerd.log").open("wb")
        # Its own mount namespace: whatever containerd mounts while unpacking dies with it.
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "containerd", "--config", str(work / "config.toml")],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            ctr = ["ctr", "--address", str(socket), "--namespace", NAMESPACE]
            deadline = time.monotonic() + 30
            while subprocess.run(ctr + ["version"], capture_output=True).returncode != 0:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the seeding containerd did not start: {(work / 'containerd.log').read_text()[-2000:]}")
                time.sleep(0.2)
            import_images(ctr, image_set)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        root.rename(golden)
    (golden / ".complete").write_text("seeded\n")


def clone(golden: Path, dest: Path) -> bool:
    """`dest` (absent) as a clone of the seeded root; False (and nothing at `dest`) if hard links
    cannot be made there."""
    done = subprocess.run(["cp", "-a", "--link", f"{golden}/.", str(dest)], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        return False
    (dest / ".complete").unlink()
    for db in DATABASES:
        if (golden / db).exists():
            (dest / db).unlink()
            shutil.copy2(golden / db, dest / db)
    return True
