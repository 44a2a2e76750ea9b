"""Upgrading a deployed stack to a newer sessionstack keeps every resource (the way pulumi-eks
tests upgrades): `pulumi up` with the release before the components became a package, then the
same project directory and stack with newer code.

- the package move (the tree at PACKAGED: `components.*` became the installed `sessionstack.*`)
  changes nothing: `preview --expect-no-changes`;
- the current tree deletes nothing and replaces no workload; what it changes is what
  CHANGELOG.md announces;
- after the upgrade, a setting that changes a WildFly script updates the Deployment in place (a
  rolling update) instead of replacing it with all its pods, which is what a fixed-name
  ConfigMap made the engine do (the provider deletes it before creating the new one).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from engine_support import ROOT, Engine

BEFORE_PACKAGE = "a47f254"
"""The last commit with the components as a plain folder (imported as `components.*`)."""
PACKAGED = "40550ce"
"""The package move and the first-contact fixes, before any deliberate change to what is declared."""
CHANGED_SINCE = {
    ("create", "apache-netpol"),  # 1.1.0: Apache's NetworkPolicy
    # 1.1.0: ConfigMaps named after their content (created before the old ones are deleted) ...
    ("replace", "wildfly-scripts"), ("replace", "wildfly-demo-app"), ("replace", "apache-config"), ("replace", "apache-site"),
    # ... so the workloads that mount them roll in place (the scripts also drop the file store).
    ("update", "wildfly-deployment"), ("update", "apache-deployment"),
}
"""What the current release changes in an existing local stack, each announced in CHANGELOG.md."""


def _checkout(commit: str | None, dest: Path) -> None:
    """The project's files at ``commit`` (None: the working tree's tracked files) into ``dest``,
    keeping what the user owns there: the stack file and the rendered output."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    if commit is None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name in filter(None, files):
                tar.add(ROOT / name.decode(), arcname=name.decode())
        data = buffer.getvalue()
    else:
        data = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True).stdout
    stack_file = dest / "config" / "Pulumi.local.yaml"
    kept = stack_file.read_bytes() if stack_file.exists() else None
    for entry in dest.iterdir() if dest.exists() else ():
        if entry.name not in {"rendered", ".venv"}:
            subprocess.run(["rm", "-rf", str(entry)], check=True)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, members=[m for m in tar.getmembers() if not m.name.startswith(("tests/", "bench/", "apps/"))], filter="data")
    if kept is not None:
        stack_file.write_bytes(kept)
    if not (dest / ".venv").exists():
        (dest / ".venv").symlink_to(ROOT / ".venv")


@pytest.fixture(scope="module")
def upgraded(engine_bin, tmp_path_factory):
    if subprocess.run(["git", "cat-file", "-e", f"{BEFORE_PACKAGE}^{{commit}}"], cwd=ROOT).returncode != 0:
        pytest.fail(f"commit {BEFORE_PACKAGE} is not in this clone: the upgrade test needs the project's history")
    base = tmp_path_factory.mktemp("upgrade")
    project = base / "project"
    _checkout(BEFORE_PACKAGE, project)
    # The virtualenv's editable install points at this checkout's components/: make each release
    # import its own copy (PYTHONPATH comes before site-packages).
    engine = Engine(engine_bin, base, extra_env={"PYTHONPATH": str(project / "components")})
    assert engine.run(project, "stack", "init", "local").returncode == 0
    up = engine.run(project, "up", "--yes", "--stack", "local")
    assert up.returncode == 0, str(up)
    return engine, project


def test_the_package_move_changes_nothing_in_a_deployed_stack(upgraded):
    engine, project = upgraded
    _checkout(PACKAGED, project)
    preview = engine.run(project, "preview", "--expect-no-changes", "--stack", "local")
    assert preview.returncode == 0, str(preview)


def _changes(engine: Engine, project: Path) -> set[tuple[str, str]]:
    preview = engine.run(project, "preview", "--json", "--stack", "local")
    assert preview.returncode == 0, str(preview)
    steps = json.loads(preview.output[preview.output.index("{"):])["steps"]
    return {(s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps if s["op"] != "same"}


def test_the_current_release_deletes_nothing_and_replaces_no_workload(upgraded):
    engine, project = upgraded
    _checkout(None, project)
    assert _changes(engine, project) == CHANGED_SINCE
    changelog = (ROOT / "components" / "CHANGELOG.md").read_text()
    assert "NetworkPolicy" in changelog and "named after their content" in changelog


def test_a_changed_script_rolls_the_deployment_instead_of_replacing_it(upgraded):
    engine, project = upgraded
    _checkout(None, project)
    up = engine.run(project, "up", "--yes", "--stack", "local")
    assert up.returncode == 0, str(up)
    assert engine.run(project, "config", "set", "--stack", "local", "sessionstack:wildfly.cacheOwners", "3").returncode == 0
    try:
        assert _changes(engine, project) == {("replace", "wildfly-scripts"), ("update", "wildfly-deployment")}
    finally:
        engine.run(project, "config", "rm", "--stack", "local", "sessionstack:wildfly.cacheOwners")
