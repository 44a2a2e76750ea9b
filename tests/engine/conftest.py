"""The real Pulumi engine of tools/engine for the tests in this directory.

``engine_bin`` builds the engine if needed (``tools/engine/build.sh``; warm: well under a second)
and fails the tests, never skips them, when it cannot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_support import build_engine


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    try:
        return build_engine()
    except RuntimeError as exc:
        pytest.fail(str(exc))
