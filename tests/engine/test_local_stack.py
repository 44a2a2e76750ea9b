"""The `local` stack deployed by the real Pulumi engine (tools/engine), once per test session.

One session fixture copies the project to a temporary directory and runs, in order: stack init,
`pulumi up`, a second `pulumi up` and a preview that must report no changes, a preview with the
policy pack of policy/, and `pulumi destroy`. The tests then judge each step; the rendered objects
(read after the first up) are checked against the Kubernetes 1.33 schema and cross-references
(offline.k8s_checks) and compared with what the mocked run of the same stack declares
(offline.mockrun).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import k8s_checks, mockrun
from engine_support import ROOT, Engine, Result, copy_project

POLICY_DIR = ROOT / "policy"


@dataclass
class Lifecycle:
    project: Path
    render_dir: Path
    up: Result
    files_after_up: list[Path]
    objects: list[dict[str, Any]]
    second_up: Result
    preview: Result
    policy_preview: Result | None
    destroy: Result
    files_after_destroy: list[Path]


def rendered_files(render_dir: Path) -> list[Path]:
    return sorted(p for p in render_dir.rglob("*") if p.is_file()) if render_dir.exists() else []


@pytest.fixture(scope="session")
def local(engine_bin, tmp_path_factory) -> Lifecycle:
    base = tmp_path_factory.mktemp("engine-local")
    project = copy_project(base / "project")
    engine = Engine(engine_bin, base)
    render_dir = project / mockrun.load_stack_config("local")["sessionstack:renderDir"]

    init = engine.run(project, "stack", "init", "local")
    assert init.returncode == 0, str(init)
    up = engine.run(project, "up", "--yes", "--stack", "local")
    files = rendered_files(render_dir)
    objects = [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]
    second_up = engine.run(project, "up", "--yes", "--expect-no-changes", "--stack", "local")
    preview = engine.run(project, "preview", "--expect-no-changes", "--stack", "local")
    policy_preview = None
    if (POLICY_DIR / "PulumiPolicy.yaml").exists():
        args = ["preview", "--stack", "local", "--policy-pack", str(POLICY_DIR)]
        if (POLICY_DIR / "config" / "local.json").exists():
            args += ["--policy-pack-config", str(POLICY_DIR / "config" / "local.json")]
        policy_preview = engine.run(project, *args)
    destroy = engine.run(project, "destroy", "--yes", "--stack", "local")
    return Lifecycle(project, render_dir, up, files, objects, second_up, preview, policy_preview, destroy,
                     rendered_files(render_dir))


def test_up_renders_every_object_to_the_render_dir(local):
    assert local.up.returncode == 0, str(local.up)
    assert local.files_after_up, f"nothing rendered to {local.render_dir}\n{local.up}"
    # One object per file, each announced by the engine as rendered.
    assert len(local.objects) == len(local.files_after_up)
    for f in local.files_after_up:
        assert f"rendered {f.relative_to(local.project)}" in local.up.output, f


def test_second_up_and_preview_report_no_changes(local):
    # Both ran with --expect-no-changes, which exits non-zero on any change.
    for step in (local.second_up, local.preview):
        assert step.returncode == 0, str(step)
        unchanged = re.search(r"^\s+(\d+) unchanged$", step.output, re.MULTILINE)
        assert unchanged and int(unchanged.group(1)) > len(local.objects), str(step)


def test_policy_pack_passes_preview_of_local(local):
    assert local.policy_preview is not None, f"no policy pack at {POLICY_DIR} (PulumiPolicy.yaml)"
    result = local.policy_preview
    assert result.returncode == 0, str(result)
    # The pack really ran: the engine lists it under Policies.
    assert "Policies:" in result.output, str(result)
    assert "[mandatory]" not in result.output, str(result)


def test_destroy_removes_every_rendered_file(local):
    assert local.destroy.returncode == 0, str(local.destroy)
    assert local.files_after_up and local.files_after_destroy == []


def test_rendered_objects_pass_schema_and_reference_checks(local):
    assert local.objects
    assert k8s_checks.all_errors(local.objects) == []


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with Secret payloads reduced to their keys: the engine's values come from the
    random provider and are base64 `data`, the mocks' are placeholder `stringData`."""
    if obj.get("kind") != "Secret":
        return obj
    reduced = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
    reduced["payload keys"] = sorted({*(obj.get("data") or {}), *(obj.get("stringData") or {})})
    return reduced


def test_engine_renders_the_objects_of_the_mocked_run(local):
    mocked = mockrun.run_stack("local").kubernetes_objects()
    engine_keys = sorted((o["apiVersion"], *k8s_checks.key(o)) for o in local.objects)
    mocked_keys = sorted((o["apiVersion"], *k8s_checks.key(o)) for o in mocked)
    assert engine_keys == mocked_keys
    by_key = {k8s_checks.key(o): _comparable(o) for o in mocked}
    for obj in local.objects:
        expected = by_key[k8s_checks.key(obj)]
        assert json.dumps(_comparable(obj), sort_keys=True) == json.dumps(expected, sort_keys=True), (
            k8s_checks.key(obj))


def test_up_local_script_deploys_then_changes_nothing(engine_bin, tmp_path):
    """scripts/up-local, the README's command, on a copy: its own state dir, stack and render dir."""
    project = copy_project(tmp_path / "project")
    env = {k: v for k, v in Engine(engine_bin, tmp_path).env.items()
           if k not in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")}  # env.sh's defaults
    runs = [subprocess.run(["bash", "scripts/up-local"], cwd=project, env=env, capture_output=True, text=True,
                           timeout=600) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    assert rendered_files(project / "rendered" / "local")
    assert any((project / ".pulumi-state").rglob("local.json*")), "no stack state in .pulumi-state/"
    assert re.search(r"^\s+\+ \d+ created$", runs[0].stdout, re.MULTILINE), runs[0].stdout
    assert re.search(r"^\s+\d+ unchanged$", runs[1].stdout, re.MULTILINE), runs[1].stdout
    assert "created" not in runs[1].stdout.split("Resources:")[-1], runs[1].stdout
