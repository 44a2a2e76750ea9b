"""Fixtures of the real-server tier: prerequisites, the rendered WildFly pod template, figures.

Prerequisites (root, iproute2, nginx, apache2, openssl, the WildFly distribution) are
installed by tests/realservers/setup.sh; when one is missing the tests FAIL with the reason,
they never skip. Measured figures are printed in the terminal summary (and to
``$SESSIONSTACK_FIGURES`` as JSON lines when that is set).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from harness import HarnessError, require_root_and_tools, wildfly_home  # noqa: E402

_FIGURES: list[tuple[str, str]] = []


def record_figure(name: str, value: object, unit: str = "") -> None:
    """Keep a measured figure for the summary (and the JSON lines file, if asked for)."""
    text = f"{value}{(' ' + unit) if unit else ''}"
    _FIGURES.append((name, text))
    target = os.environ.get("SESSIONSTACK_FIGURES")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps({"name": name, "value": value, "unit": unit}) + "\n")


def pytest_terminal_summary(terminalreporter):  # noqa: D103
    if _FIGURES:
        terminalreporter.section("real-server figures (measured in this run)")
        for name, text in _FIGURES:
            terminalreporter.write_line(f"{name}: {text}")


@pytest.fixture(scope="session")
def realserver_prereqs() -> Path:
    """Everything the tier needs, or a failure that says what to run."""
    try:
        require_root_and_tools("openssl", "md5sum")
        for tool in ("/usr/sbin/nginx", "/usr/sbin/apache2"):
            if not Path(tool).exists():
                raise HarnessError(f"{tool} missing: run tests/realservers/setup.sh")
        home = wildfly_home()
    except HarnessError as exc:
        pytest.fail(f"real-server prerequisites missing: {exc}", pytrace=False)
    if shutil.which("java") is None and not Path("/usr/lib/jvm").is_dir():
        pytest.fail("no Java runtime found", pytrace=False)
    return home


@pytest.fixture
def figure():
    return record_figure
