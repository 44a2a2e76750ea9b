"""The engine of tools/engine on throwaway programs: versions, config and secrets reaching the
program through the language host, program errors failing the update, the random provider."""

from __future__ import annotations

import json
import string
import subprocess

import pytest

from engine_support import Engine, read_versions, write_program

PROGRAM = '''\
import pulumi
import pulumi_random as random

cfg = pulumi.Config()
if cfg.get("fail"):
    raise RuntimeError("boom-from-the-program: " + cfg.get("fail"))
pulumi.export("plain", cfg.require("plain"))
pulumi.export("secret", cfg.require_secret("secret"))
pulumi.export("project", pulumi.get_project())
pulumi.export("stack", pulumi.get_stack())
password = random.RandomPassword("pw", length=cfg.require_int("length"), special=False, min_upper=5)
pulumi.export("password", password.result)
word = random.RandomString("word", length=16, upper=False, special=False, numeric=False)
pulumi.export("word", word.result)
'''


def test_cli_reports_its_pinned_version(engine_bin):
    versions = read_versions()
    out = subprocess.run([str(engine_bin / "pulumi"), "version"], capture_output=True, text=True, check=True)
    accepted = {versions["PULUMI_CLI_VERSION"], *versions["PULUMI_ACCEPTED_ON_PATH"].split()}
    assert out.stdout.strip().removeprefix("v") in accepted


@pytest.fixture(scope="module")
def small(engine_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("engine-small")
    program = write_program(base / "program", "enginecheck", PROGRAM)
    engine = Engine(engine_bin, base)
    for args in (("stack", "init", "dev"), ("config", "set", "plain", "hello"),
                 ("config", "set", "--secret", "secret", "s3cr3t"), ("config", "set", "length", "24")):
        done = engine.run(program, *args)
        assert done.returncode == 0, str(done)
    up = engine.run(program, "up", "--yes")
    assert up.returncode == 0, str(up)
    outputs = engine.run(program, "stack", "output", "--json", "--show-secrets")
    assert outputs.returncode == 0, str(outputs)
    return engine, program, json.loads(outputs.output[outputs.output.index("{"):])


def test_config_and_secret_config_reach_the_program(small):
    _, _, outputs = small
    assert outputs["plain"] == "hello"
    assert outputs["secret"] == "s3cr3t"
    assert (outputs["project"], outputs["stack"]) == ("enginecheck", "dev")


def test_random_provider_honours_length_classes_and_minimums(small):
    _, _, outputs = small
    password, word = outputs["password"], outputs["word"]
    assert len(password) == 24 and set(password) <= set(string.ascii_letters + string.digits)
    assert sum(c.isupper() for c in password) >= 5
    assert len(word) == 16 and set(word) <= set(string.ascii_lowercase)


def test_secret_outputs_stay_secret_in_the_state(small):
    engine, program, _ = small
    shown = engine.run(program, "stack", "output", "--json")
    assert shown.returncode == 0, str(shown)
    assert "s3cr3t" not in shown.output and "[secret]" in shown.output


def test_changed_random_input_replaces_and_unchanged_keeps_the_value(small):
    engine, program, outputs = small
    same = engine.run(program, "preview", "--expect-no-changes")
    assert same.returncode == 0, str(same)
    assert engine.run(program, "config", "set", "length", "30").returncode == 0
    try:
        changed = engine.run(program, "preview", "--diff")
        assert changed.returncode == 0, str(changed)
        assert "+-random:index/randomPassword:RandomPassword" in changed.output.replace(" ", ""), str(changed)
    finally:
        assert engine.run(program, "config", "set", "length", "24").returncode == 0


def test_program_error_fails_the_update_with_its_message(small):
    engine, program, _ = small
    assert engine.run(program, "config", "set", "fail", "on-purpose").returncode == 0
    try:
        failed = engine.run(program, "preview")
    finally:
        assert engine.run(program, "config", "rm", "fail").returncode == 0
    assert failed.returncode != 0, str(failed)
    assert "boom-from-the-program: on-purpose" in failed.output, str(failed)
