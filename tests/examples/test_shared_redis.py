"""examples/shared-redis: another Pulumi project that installs the components and composes them
its own way (two WildFly clusters sharing one Redis store). Under mocks, then with the real engine
in a virtualenv of its own, into which pip installs the package as a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from offline import k8s_checks, mockrun
from tests.engine.engine_support import ROOT, Engine, build_engine

EXAMPLE = ROOT / "examples" / "shared-redis"
APPS = ("orders", "catalog")


def example_config(stack: str = "render") -> dict[str, str]:
    """What the engine would pass: the project's defaults, then the stack file."""
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    config = {f"shared-redis:{k}": str(v["default"]) for k, v in project["config"].items() if "default" in v}
    config.update({k: str(v) for k, v in yaml.safe_load((EXAMPLE / f"Pulumi.{stack}.yaml").read_text())["config"].items()})
    return config


@pytest.fixture(scope="module")
def mocked():
    return mockrun.run_program("render", example_config(), project_dir=EXAMPLE, project="shared-redis")


def _labels(obj):
    return obj["spec"]["template"]["metadata"]["labels"]


def _selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_objects_are_valid_and_every_reference_resolves(mocked):
    assert mocked.duplicate_urns == []
    objects = mocked.kubernetes_objects()
    assert k8s_checks.all_errors(objects) == []
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    workloads = sorted(k for k in kinds if k[0] in ("Deployment", "StatefulSet"))
    assert workloads == [("Deployment", "catalog"), ("Deployment", "orders"), ("StatefulSet", "sessions")]


def test_both_applications_use_the_one_store_and_only_they_may_reach_it(mocked):
    objects = mocked.kubernetes_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    [redis_policy] = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "sessions"]
    # Sentinel mode: the clients, and the store's own pods (replication, the Sentinels' gossip).
    peer, store_pods = redis_policy["ingress"][0]["from"]
    for app in APPS:
        env = {e["name"]: e for e in deployments[app]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["SPRING_DATA_REDIS_HOST"]["value"] == mocked.exports["redisEndpoint"].rsplit(":", 1)[0]
        assert env["SPRING_DATA_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == mocked.exports["redisPasswordSecret"]
        assert _selects(peer["podSelector"], _labels(deployments[app])), app
        assert env["SPRING_DATA_REDIS_SENTINEL_MASTER"]["value"] == mocked.exports["redisSentinelMaster"]
        assert not _selects(store_pods["podSelector"], _labels(deployments[app])), app
    [statefulset] = [o for o in objects if o["kind"] == "StatefulSet"]
    assert not _selects(peer["podSelector"], _labels(statefulset)) and _selects(store_pods["podSelector"], _labels(statefulset))


def test_each_application_keeps_its_own_names_and_policies(mocked):
    objects = mocked.kubernetes_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for app in APPS:
        other = next(a for a in APPS if a != app)
        for kind in ("NetworkPolicy", "PodDisruptionBudget"):
            [spec] = [o["spec"] for o in objects if o["kind"] == kind and o["metadata"]["name"] == app]
            selector = spec["podSelector"] if kind == "NetworkPolicy" else spec["selector"]
            assert _selects(selector, _labels(deployments[app])) and not _selects(selector, _labels(deployments[other])), (kind, app)
    assert {mocked.exports[f"{app}Service"] for app in APPS} == set(APPS)


@pytest.fixture(scope="module")
def example_project(tmp_path_factory):
    """A copy of the example with its own virtualenv, made from its requirements.txt by pip (the
    package arrives as a wheel built from ../../components, not as an editable link)."""
    # The repository's layout in a scratch tree (pip builds the wheel where the source is).
    tree = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "components", tree / "components", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    project = tree / "examples" / "shared-redis"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".venv", "rendered", "__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", str(project / ".venv")], check=True)
    pip = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
                         cwd=project, capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return project


def test_the_package_installs_as_a_wheel_with_its_templates(example_project):
    python = example_project / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import sessionstack, pathlib; p = pathlib.Path(sessionstack.__file__).parent; "
         "print(sessionstack.__version__, p, (p / 'py.typed').exists(), sorted(str(x.relative_to(p / 'templates')) for x in (p / 'templates').rglob('*.*')))"],
        cwd="/", capture_output=True, text=True, check=True)
    version, location, typed, templates = probe.stdout.split(" ", 3)
    project = (ROOT / "components" / "pyproject.toml").read_text()
    assert f'version = "{version}"' in project
    assert "site-packages" in location, location
    assert typed == "True" and all(
        f"'{t}'" in templates for t in ("wildfly/configure-infinispan.cli", "wildfly/start.sh", "apache/httpd.conf", "redis/redis.conf", "redis/start-redis.sh", "redis/sentinel.conf"))


def test_the_real_engine_renders_the_example(example_project, tmp_path):
    try:
        engine = Engine(build_engine(), tmp_path)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    assert engine.run(example_project, "stack", "init", "render").returncode == 0
    up = engine.run(example_project, "up", "--yes", "--stack", "render")
    assert up.returncode == 0, str(up)
    rendered = list((example_project / "rendered").rglob("*.yaml"))
    documents = [d for path in rendered for d in yaml.safe_load_all(path.read_text()) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("Deployment", "orders"), ("Deployment", "catalog"), ("StatefulSet", "sessions")} <= names
    assert k8s_checks.all_errors(documents) == []
    again = engine.run(example_project, "preview", "--expect-no-changes", "--stack", "render")
    assert again.returncode == 0, str(again)
