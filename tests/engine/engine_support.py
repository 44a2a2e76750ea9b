"""Helpers for the engine tests: an isolated pulumi CLI environment and project copies.

Every run gets its own PULUMI_HOME, file backend and passphrase, so a developer's own state
(.pulumi-state/, ~/.pulumi) is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "tools" / "engine"

# What a copy of the project leaves out: VCS, caches, outputs, and trees the program never imports.
_NOT_COPIED = {".git", ".venv", ".pulumi-state", "rendered", "apps", "tests", "bench", "__pycache__",
               ".pytest_cache"}


def build_engine() -> Path:
    """tools/engine/build.sh (warm: well under a second); its bin dir. Raises RuntimeError when it fails."""
    try:
        built = subprocess.run(["bash", str(ENGINE / "build.sh")], capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"tools/engine/build.sh did not finish within an hour: {exc}") from None
    if built.returncode != 0:
        raise RuntimeError(f"tools/engine/build.sh failed ({built.returncode}):\n{built.stderr[-4000:]}")
    bin_dir = Path(built.stdout.strip().splitlines()[-1])
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("pulumi-"))
    for tool in ["pulumi", *(f"../plugins/resource-{p}-v{pins['pulumi-' + p]}/pulumi-resource-{p}" for p in ("kubernetes", "random"))]:
        if not (bin_dir / tool).exists():
            raise RuntimeError(f"{tool} missing from {bin_dir}")
    return bin_dir


def read_versions() -> dict[str, str]:
    versions = {}
    for line in (ENGINE / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip().strip('"')
    return versions


@dataclass
class Engine:
    """The pulumi CLI with an environment of its own (home, state, passphrase) under ``base``."""

    bin_dir: Path
    base: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    """e.g. KUBECONFIG for a stack that deploys to a real cluster."""

    @property
    def env(self) -> dict[str, str]:
        (self.base / "tmp").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update(self.extra_env)
        env.update({
            "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_HOME": str(self.base / "home"),
            "PULUMI_BACKEND_URL": f"file://{self.base / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "sessionstack-local",  # env.sh's: config/Pulumi.local.yaml may carry its salt
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            # The kubernetes provider writes a copy of its kubeconfig to a temporary file at each
            # configure and never removes it (pulumi-kubernetes provider.go, writeKubeconfigToFile):
            # keep those, and any other temporary file of the engine's, under base.
            "TMPDIR": str(self.base / "tmp"),
        })
        return env

    def run(self, cwd: Path, *args: str, timeout: float = 600) -> "Result":
        (self.base / "state").mkdir(parents=True, exist_ok=True)
        if not (self.base / "home" / "plugins").exists():
            subprocess.run(["bash", str(ENGINE / "link-plugins"), str(self.bin_dir), str(self.base / "home")], check=True)
        done = subprocess.run([str(self.bin_dir / "pulumi"), *args, "--non-interactive"], cwd=cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        return Result(args, done.returncode, done.stdout + done.stderr)


@dataclass
class Result:
    args: tuple[str, ...]
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"`pulumi {' '.join(self.args)}` exited {self.returncode}:\n{self.output}"


def copy_project(dest: Path) -> Path:
    """The program's files (Pulumi.yaml, __main__.py, components/, config/, ...) plus a link to .venv."""
    dest.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name in _NOT_COPIED:
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, dest / entry.name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def write_program(dest: Path, name: str, main: str) -> Path:
    """A throwaway Python program that runs with the project's virtualenv."""
    dest.mkdir(parents=True)
    (dest / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {ROOT / '.venv'}\n")
    (dest / "__main__.py").write_text(main)
    return dest
