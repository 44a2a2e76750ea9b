"""A newcomer's first minutes with the real engine: mistakes in the stack config stop the program
with one line that says what to fix, and a clean `pulumi up` of the local stack prints no warning
a user cannot act on."""

from __future__ import annotations

import re

import pytest

from engine_support import Engine, copy_project


@pytest.fixture(scope="module")
def project(engine_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("first-contact")
    project = copy_project(base / "project")
    engine = Engine(engine_bin, base)
    assert engine.run(project, "stack", "init", "local").returncode == 0
    return engine, project


@pytest.mark.parametrize(("key", "value", "message"), [
    ("wildfly.replicas", "two", "error: sessionstack:wildfly.replicas must be an integer from 1 to 50, got 'two'"),
    ("wildfly.replica", "3", "error: sessionstack:wildfly.replica is not a sessionstack setting; did you mean wildfly.replicas?"),
])
def test_a_config_mistake_stops_the_program_with_one_line(project, key, value, message):
    engine, path = project
    assert engine.run(path, "config", "set", "--stack", "local", f"sessionstack:{key}", value).returncode == 0
    try:
        preview = engine.run(path, "preview", "--stack", "local")
    finally:
        engine.run(path, "config", "rm", "--stack", "local", f"sessionstack:{key}")
    assert preview.returncode != 0
    assert message in preview.output, preview.output
    assert "Traceback" not in preview.output and 'File "' not in preview.output, preview.output


def test_up_of_the_local_stack_prints_only_the_warning_the_readme_explains(project):
    engine, path = project
    up = engine.run(path, "up", "--yes", "--stack", "local")
    assert up.returncode == 0, str(up)
    warnings = [line.strip() for line in up.output.splitlines() if re.match(r"\s*warning:", line)]
    # The Kubernetes provider says that the rendered Secrets are plain text on disk (per Secret;
    # the README explains it under "Stacks"); nothing else: no plugin-version or ambient-plugin noise.
    assert warnings and all(re.search(r"contains? a secret value in plaintext", w) for w in warnings), warnings
