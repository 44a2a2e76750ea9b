"""The real Pulumi engine of tools/engine for the tests in this directory.

``engine_bin`` builds the engine if needed (``tools/engine/build.sh``; warm: well under a second)
and fails the tests, never skips them, when it cannot.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine_support import ENGINE


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    try:
        built = subprocess.run(["bash", str(ENGINE / "build.sh")], capture_output=True, text=True,
                               timeout=3600)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"tools/engine/build.sh did not finish within an hour: {exc}")
    if built.returncode != 0:
        pytest.fail(f"tools/engine/build.sh failed ({built.returncode}):\n{built.stderr[-4000:]}")
    bin_dir = Path(built.stdout.strip().splitlines()[-1])
    for tool in ("pulumi", "pulumi-resource-kubernetes", "pulumi-resource-random"):
        assert (bin_dir / tool).exists(), f"{tool} missing from {bin_dir}"
    return bin_dir
