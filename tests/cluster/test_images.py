"""The locally built stand-ins keep the contract of the images the stack pins.

tools/cluster/onenode/images.py builds every image the cluster runs (no registry is reachable).
For the three the components pin (WildFly, httpd, redis), `images.contracts()` states what the
components rely on: user, environment, workdir, entrypoint, accounts, paths with owner and mode.
Here the built image is read back (its OCI config and its layers) and checked against that, and
each image is run on the cluster, as the user the stack runs it as, to show it works there.
"""

from __future__ import annotations

import json
import stat
import tarfile
from pathlib import Path

import pytest

from kube import Cluster, pod, restricted_container, run_to_completion
from onenode import images, oci

STACK_IMAGES = ("wildfly", "httpd", "redis")


@pytest.fixture(scope="module")
def image_set(cluster: Cluster) -> dict[str, Path]:
    """role -> layout dir of the set the running cluster imported."""
    sets = sorted(images.cache_root().glob("set-*/images.json"), key=lambda p: p.stat().st_mtime)
    assert sets, f"no image set under {images.cache_root()}"
    by_ref = json.loads(sets[-1].read_text())
    refs = images.image_refs()
    return {role: Path(by_ref[ref]) for role, ref in refs.items()}


def rootfs(layout: Path) -> tuple[dict[str, tarfile.TarInfo], str]:
    """Every entry of the image's file system (later layers win) and its /etc/passwd."""
    manifest, _ = oci.read_layout(layout)
    entries: dict[str, tarfile.TarInfo] = {}
    passwd = ""
    for desc in manifest["layers"]:
        with tarfile.open(layout / "blobs/sha256" / desc["digest"].split(":", 1)[1]) as tar:
            for member in tar:
                name = "/" + member.name.removeprefix("./").strip("/")
                entries[name] = member
                if name == "/etc/passwd" and member.isfile():
                    passwd = tar.extractfile(member).read().decode()
    return entries, passwd


def resolve(entries: dict[str, tarfile.TarInfo], path: str) -> tarfile.TarInfo | None:
    """The entry `path` names, following symbolic links in any of its components."""
    parts = [p for p in path.split("/") if p]
    current = ""
    for hop in range(40):
        if not parts:
            return entries.get(current or "/")
        candidate = f"{current}/{parts[0]}"
        member = entries.get(candidate)
        if member is None:
            return None
        if member.issym():
            target = member.linkname
            base = "" if target.startswith("/") else current
            parts = [p for p in f"{base}/{target}".split("/") if p] + parts[1:]
            current = ""
            continue
        current, parts = candidate, parts[1:]
    return None


@pytest.mark.parametrize("role", STACK_IMAGES)
def test_stand_in_keeps_the_upstream_contract(role: str, image_set):
    contract = images.contracts()[role]
    layout = image_set[role]
    _, config = oci.read_layout(layout)
    cfg = config["config"]
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    for key, value in contract.env.items():
        assert env.get(key) == value, (key, env.get(key))
    assert cfg.get("User", "") == contract.user
    assert cfg.get("WorkingDir", "") == contract.workdir
    assert cfg.get("Entrypoint") == contract.entrypoint and cfg.get("Cmd") == contract.cmd
    assert set(cfg.get("ExposedPorts", {})) == set(contract.ports)
    assert cfg.get("StopSignal", "") == contract.stop_signal

    entries, passwd = rootfs(layout)
    for user, (uid, gid) in contract.users.items():
        line = next((l for l in passwd.splitlines() if l.split(":")[0] == user), None)
        assert line and line.split(":")[2:4] == [str(uid), str(gid)], (user, line)
    for path, (uid, gid, mode) in contract.files.items():
        member = resolve(entries, path)
        assert member is not None, f"{role}: {path} is missing"
        assert (member.uid, member.gid) == (uid, gid), f"{role}: {path} is {member.uid}:{member.gid}, not {uid}:{gid}"
        assert stat.S_IMODE(member.mode) & mode == mode, f"{role}: {path} has mode {oct(member.mode)}, needs {oct(mode)}"


RUNS = {
    # role: (uid the stack runs it as, command, what the output must contain)
    "wildfly": (1000, ["sh", "-c", 'java -version 2>&1 && "$JBOSS_HOME/bin/standalone.sh" --version'], "WildFly 39.0.1.Final"),
    "httpd": (33, ["httpd", "-v"], "Apache/2.4.71"),
    "redis": (999, ["sh", "-c", "redis-server --version && redis-cli --version"], "redis-cli"),
}


def test_stand_ins_run_on_the_cluster_as_the_stack_runs_them(cluster: Cluster):
    refs = images.image_refs()
    for role, (uid, command, expected) in RUNS.items():
        container = restricted_container(role, refs[role], command, uid=uid)
        container["securityContext"]["readOnlyRootFilesystem"] = False  # --version writes logs/tmp
        phase, log = run_to_completion(cluster, pod(f"image-{role}", "default", [container]), timeout=180)
        assert phase == "Succeeded" and expected in log, f"{role}: {phase}\n{log}"
