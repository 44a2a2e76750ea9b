"""Text artefacts as template files (``templates/<area>/``) with ``@NAME@`` placeholders.

The files read as what they render (a jboss-cli script, an httpd.conf), so a reviewer reads the
configuration, not Python building it; the fill refuses to leave a placeholder behind.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_PLACEHOLDER = re.compile(r"@[A-Z][A-Z0-9_]*@")


def read(area: str, name: str) -> str:
    """The template ``templates/<area>/<name>``."""
    return (TEMPLATES_DIR / area / name).read_text(encoding="utf-8")


def fill(text: str, values: dict[str, object]) -> str:
    """``text`` with every ``@KEY@`` of ``values`` replaced; a placeholder left over is an error."""
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    leftover = _PLACEHOLDER.search(text)
    if leftover:
        raise ValueError(f"unfilled template placeholder {leftover.group(0)}")
    return text
