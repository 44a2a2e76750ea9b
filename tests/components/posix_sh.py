"""Shell scripts the components render, checked as a POSIX shell (dash, the images' /bin/sh) reads them."""

from __future__ import annotations

import re
import shutil
import subprocess


def assert_filled_posix_sh(scripts: dict[str, str]) -> None:
    """Every script has no template placeholder left and parses (``sh -n``)."""
    shells = [s for s in ("dash", "sh") if shutil.which(s)]
    assert shells, "no POSIX shell to check the scripts with"
    for name, text in scripts.items():
        assert "@" not in re.sub(r"\$@|\"\$@\"", "", text), name
        done = subprocess.run([shells[0], "-n"], input=text, capture_output=True, text=True)
        assert done.returncode == 0, (name, done.stderr)
