"""What each stack file declares, recorded: the safety net for changes that must not show.

A snapshot is the mocked run of one stack (offline.mockrun): every resource's URN, type, parent
and inputs, and the stack's exports. tests/stacks/test_snapshots.py compares the program with the
snapshots kept in tests/stacks/snapshots/, field by field, so a refactoring that changes what a
user would deploy (an object, a field, a URN) fails there. A change meant to show is recorded
deliberately:

    .venv/bin/python -m offline.snapshot --update          # all stack files
    .venv/bin/python -m offline.snapshot --diff local      # what differs, without writing
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from offline import mockrun

SNAPSHOT_DIR = mockrun.PROJECT_DIR / "tests" / "stacks" / "snapshots"


def snapshot(stack: str) -> dict[str, Any]:
    run = mockrun.run_stack(stack)
    resources = [
        {"urn": r.urn, "type": r.type, "parent": r.parent_urn, "custom": r.custom, "inputs": r.inputs}
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]
    return json.loads(json.dumps({"resources": resources, "exports": run.exports, "secretExports": sorted(run.secret_exports)}, default=str))


def path_of(stack: str) -> Path:
    return SNAPSHOT_DIR / f"{stack}.json"


def differences(recorded: Any, current: Any, where: str = "") -> list[str]:
    """Every path at which two JSON values differ (resources are matched by URN)."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(recorded) | set(current)):
            if key not in current:
                out.append(f"{where}.{key}: removed")
            elif key not in recorded:
                out.append(f"{where}.{key}: added")
            else:
                out += differences(recorded[key], current[key], f"{where}.{key}")
        return out
    if isinstance(recorded, list) and isinstance(current, list):
        if recorded and all(isinstance(x, dict) and "urn" in x for x in recorded + current):
            return differences({x["urn"]: x for x in recorded}, {x["urn"]: x for x in current}, where)
        if len(recorded) != len(current):
            return [f"{where}: {len(recorded)} items -> {len(current)}"]
        return [d for i, (a, b) in enumerate(zip(recorded, current)) for d in differences(a, b, f"{where}[{i}]")]
    return [] if recorded == current else [f"{where}: {recorded!r} -> {current!r}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="record the current program")
    parser.add_argument("--diff", action="store_true", help="print the differences, write nothing")
    parser.add_argument("stacks", nargs="*", help="default: every stack file")
    args = parser.parse_args(argv)
    stacks = args.stacks or mockrun.stacks()
    found = 0
    for stack in stacks:
        current = snapshot(stack)
        if args.update:
            SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
            path_of(stack).write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
            print(f"snapshot: recorded {stack} ({len(current['resources'])} resources)")
            continue
        recorded = json.loads(path_of(stack).read_text())
        diff = differences(recorded, current)
        found += len(diff)
        print(f"snapshot: {stack}: {len(diff)} difference(s)")
        for line in diff[:200]:
            print(f"  {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
