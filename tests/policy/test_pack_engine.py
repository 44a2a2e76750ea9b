"""The pack as the engine starts and talks to it, without the engine.

The engine starts a Python pack through the `pulumi-analyzer-policy-python` shim: in the pack
directory, with the python of ``runtime.options.virtualenv`` (relative to the pack directory), it
runs ``python -u -m pulumi.policy <engine address> .``, reads the port the pack prints, and calls
the Analyzer gRPC service (GetAnalyzerInfo, Analyze per resource, AnalyzeStack). These tests do
exactly that, so PulumiPolicy.yaml, __main__.py and the pack's defaults are checked the way
`pulumi preview --policy-pack policy` will use them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.pack import ALWAYS_ADVISORY, PACK_NAME, build_policies

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"


def pack_python() -> Path:
    """The interpreter the shim picks: <pack dir>/<virtualenv>/bin/python."""
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    options = project["runtime"]["options"]
    assert options["toolchain"] == "pip"
    return PACK_DIR / options["virtualenv"] / "bin" / "python"


class RunningPack:
    """The pack process, started like the legacy shim (stack in env) or like the language host's
    RunPlugin (``python <pack dir> <engine>`` from the project directory, no stack in env)."""

    def __init__(self, stack: str | None, language_host: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env["PYTHONPATH"] = ""
        if stack is not None:
            env.update({"PULUMI_STACK": stack, "PULUMI_PROJECT": "sessionstack", "PULUMI_DRY_RUN": "true"})
        if language_host:
            command, cwd = [str(pack_python()), str(PACK_DIR), "127.0.0.1:1"], PACK_DIR.parent
        else:
            command, cwd = [str(pack_python()), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], PACK_DIR
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise AssertionError(f"the pack did not print its port: {line!r}\n{self.process.stderr.read()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        self.stub = proto.AnalyzerStub(self.channel)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def eks_pack() -> Iterator[RunningPack]:
    pack = RunningPack("eks")
    yield pack
    pack.channel.close()
    pack.stop()


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def deployment(image: str, args: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "was", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "was"}},
            "template": {
                "metadata": {"labels": {"app": "was"}},
                "spec": {"containers": [{"name": "wildfly", "image": image, "args": args, "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}]},
            },
        },
    }


def analyze(pack: RunningPack, type_token: str, name: str, props: dict[str, Any]):
    request = proto.AnalyzeRequest(type=type_token, name=name, urn=f"urn:pulumi:eks::sessionstack::{type_token}::{name}", properties=struct(props))
    return pack.stub.Analyze(request, timeout=30)


def test_virtualenv_is_explicit_and_resolves_from_the_pack_directory():
    python = pack_python()
    assert python.is_file(), f"PulumiPolicy.yaml's virtualenv does not resolve to an interpreter: {python}"
    check = subprocess.run([str(python), "-c", "import pulumi_policy, pulumi; print(pulumi_policy.__file__)"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_analyzer_info_lists_every_policy_with_the_strict_defaults(eks_pack):
    info = eks_pack.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME and info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {p.name for p in build_policies()}
    for name, level in levels.items():
        expected = proto.ADVISORY if name in ALWAYS_ADVISORY else proto.MANDATORY
        assert level == expected, name
    ha = next(p for p in info.policies if p.name == "ha-minimums")
    assert ha.configSchema.properties["production"]["default"] is True
    assert all(p.description for p in info.policies)


def levels(pack: RunningPack) -> dict[str, int]:
    return {p.name: p.enforcementLevel for p in pack.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30).policies}


@pytest.mark.parametrize("stack, language_host", [("dev", False), (None, True)])
def test_defaults_do_not_depend_on_the_stack_or_how_the_pack_was_started(eks_pack, stack, language_host):
    """A stack is relaxed by its config file only: a dev stack without one fails closed."""
    pack = RunningPack(stack, language_host=language_host)
    try:
        pack.stub.ConfigureStack(proto.AnalyzerStackConfigureRequest(stack="dev", project="sessionstack"), timeout=30)
        assert levels(pack) == levels(eks_pack)
    finally:
        pack.channel.close()
        pack.stop()


def test_configured_levels_win_over_the_defaults(eks_pack):
    """What the engine sends after resolving --policy-pack-config (here: images advisory)."""
    request = proto.ConfigureAnalyzerRequest()
    request.policyConfig["images-are-pinned"].enforcementLevel = proto.ADVISORY
    eks_pack.stub.Configure(request, timeout=30)
    try:
        response = analyze(eks_pack, "kubernetes:apps/v1:Deployment", "was", deployment("jboss/wildfly:latest", []))
        (diagnostic,) = [d for d in response.diagnostics if d.policyName == "images-are-pinned"]
        assert diagnostic.enforcementLevel == proto.ADVISORY
    finally:
        reset = proto.ConfigureAnalyzerRequest()
        reset.policyConfig["images-are-pinned"].enforcementLevel = proto.MANDATORY
        eks_pack.stub.Configure(reset, timeout=30)


def test_analyze_reports_latest_image_and_wildcard_bind_as_mandatory(eks_pack):
    props = deployment("jboss/wildfly:latest", ["-c", "standalone-ha.xml", "-bprivate", "0.0.0.0"])
    response = analyze(eks_pack, "kubernetes:apps/v1:Deployment", "was", props)
    by_policy = {d.policyName: d for d in response.diagnostics}
    assert set(by_policy) == {"images-are-pinned", "jgroups-advertises-pod-ip"}
    for diagnostic in by_policy.values():
        assert diagnostic.enforcementLevel == proto.MANDATORY and diagnostic.policyPackName == PACK_NAME
        assert "Fix:" in diagnostic.message
    assert "0.0.0.0" in by_policy["jgroups-advertises-pod-ip"].message


def test_analyze_during_preview_skips_unknown_values(eks_pack):
    props = deployment("quay.io/wildfly/wildfly:39.0.1.Final-jdk21", ["-c", "standalone-ha.xml", UNKNOWN_STRING_VALUE])
    response = analyze(eks_pack, "kubernetes:apps/v1:Deployment", "was", props)
    assert list(response.diagnostics) == []


def test_analyze_stack_finds_the_login_loop(eks_pack):
    labels = {"app": "shop", "sessionstack.io/session-holding": "true"}
    app = deployment("ghcr.io/example/shop:1.0.0", [])
    app["spec"]["template"]["metadata"]["labels"] = labels
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "shop"}, "spec": {"selector": labels, "ports": [{"port": 80}]}}
    resources = [
        proto.AnalyzerResource(type="kubernetes:apps/v1:Deployment", name="shop", urn="urn:pulumi:eks::sessionstack::kubernetes:apps/v1:Deployment::shop", properties=struct(app)),
        proto.AnalyzerResource(type="kubernetes:core/v1:Service", name="shop", urn="urn:pulumi:eks::sessionstack::kubernetes:core/v1:Service::shop", properties=struct(svc)),
    ]
    response = eks_pack.stub.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), timeout=30)
    (diagnostic,) = [d for d in response.diagnostics if d.policyName == "sessions-need-a-strategy"]
    assert diagnostic.enforcementLevel == proto.MANDATORY and diagnostic.urn.endswith("Deployment::shop")
    assert "login page" in diagnostic.message
    assert {n.policy_name for n in response.not_applicable} >= {"kube-ping-needs-rbac", "alb-target-group-stickiness"}
