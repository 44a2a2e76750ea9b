"""`pulumi preview --policy-pack policy` with the real engine.

A tiny program declares component resources that carry Kubernetes type tokens and wire-form
properties (as inputs and as registered outputs), so the engine's Analyze and AnalyzeStack calls
see what a Kubernetes provider would hand them, without a provider or a cluster. The pack is the
real one from policy/, started by the engine with the virtualenv of PulumiPolicy.yaml.

The engine comes from tools/engine (built from the Go module proxy by scripts/test): its bin
directory in SESSIONSTACK_ENGINE_BIN, or `pulumi` on PATH. Without an engine the test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = '''\
import pulumi


class Declared(pulumi.ComponentResource):
    def __init__(self, type_token, name, props):
        super().__init__(type_token, name, props)
        self.register_outputs(props)


was = {"app": "was"}
Declared("kubernetes:apps/v1:Deployment", "was", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "was", "namespace": "shop"},
    "spec": {"replicas": 2, "selector": {"matchLabels": was}, "template": {"metadata": {"labels": was}, "spec": {
        "containers": [{"name": "wildfly", "image": "jboss/wildfly:latest",
                        "args": ["-c", "standalone-ha.xml", "-b", "0.0.0.0", "-bprivate", "0.0.0.0"]}]}}}})
Declared("kubernetes:core/v1:Service", "was-http", {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "was", "namespace": "shop"},
    "spec": {"selector": was, "ports": [{"port": 8080}]}})
shop = {"app": "shop", "sessionstack.io/session-holding": "true"}
Declared("kubernetes:apps/v1:Deployment", "shop", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop", "namespace": "shop"},
    "spec": {"replicas": 2, "selector": {"matchLabels": shop}, "template": {"metadata": {"labels": shop}, "spec": {
        "containers": [{"name": "app", "image": "ghcr.io/example/shop:1.0.0"}]}}}})
Declared("kubernetes:core/v1:Service", "shop-http", {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "shop"},
    "spec": {"selector": shop, "ports": [{"port": 8080}]}})
'''


def engine_bin() -> Path:
    configured = os.environ.get("SESSIONSTACK_ENGINE_BIN")
    candidates = [Path(configured)] if configured else []
    found = shutil.which("pulumi")
    if found:
        candidates.append(Path(found).parent)
    for directory in candidates:
        if (directory / "pulumi").is_file() and (directory / "pulumi-language-python").is_file():
            return directory
    pytest.fail(
        "no Pulumi engine: build it with tools/engine (scripts/test does) and put its bin directory in "
        "SESSIONSTACK_ENGINE_BIN or on PATH (pulumi and pulumi-language-python)"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("policy-engine")
    program = base / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(
        f"name: policy-smoke\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (program / "__main__.py").write_text(PROGRAM)
    bin_dir = engine_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_HOME": str(base / "home"),
            "PULUMI_BACKEND_URL": f"file://{base / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "policy-smoke",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
    )
    (base / "state").mkdir()
    subprocess.run(["bash", str(ROOT / "tools/engine/link-plugins"), str(bin_dir), str(base / "home")], check=True)
    env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"
    for stack in ("eks", "dev"):
        for args in (["stack", "init", stack], ["config", "set", "policy-smoke:marker", "x", "--stack", stack]):
            done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=program, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
    return program, env


def preview(workspace, stack: str, *extra: str) -> subprocess.CompletedProcess:
    program, env = workspace
    return subprocess.run(
        ["pulumi", "preview", "--stack", stack, "--non-interactive", "--policy-pack", str(ROOT / "policy"), *extra],
        cwd=program,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_eks_stack_fails_preview_on_mandatory_violations(workspace):
    result = preview(workspace, "eks")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for policy in ("images-are-pinned", "jgroups-advertises-pod-ip", "sessions-need-a-strategy", "ha-minimums"):
        assert f"[mandatory]  {policy}" in output, output
    assert "singleton cluster" in output and "login page" in output


def test_dev_stack_fails_closed_without_its_config_file(workspace):
    """The pack's defaults do not follow the stack's name: only a config file relaxes them."""
    result = preview(workspace, "dev")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "[mandatory]  images-are-pinned" in output and "[mandatory]  ha-minimums" in output


def test_dev_stack_with_its_config_file_reports_advisory_and_passes(workspace):
    result = preview(workspace, "dev", "--policy-pack-config", str(ROOT / "policy" / "config" / "dev.json"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[advisory]  jgroups-advertises-pod-ip" in output and "[advisory]  sessions-need-a-strategy" in output
    assert "[mandatory]" not in output and "ha-minimums" not in output


def test_policy_pack_config_file_decides_the_level(workspace):
    result = preview(workspace, "eks", "--policy-pack-config", str(ROOT / "policy" / "config" / "local.json"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[advisory]  images-are-pinned" in output and "[mandatory]" not in output
    result = preview(workspace, "dev", "--policy-pack-config", str(ROOT / "policy" / "config" / "eks.json"))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "[mandatory]  images-are-pinned" in output and "[mandatory]  ha-minimums" in output
