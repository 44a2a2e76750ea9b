"""Benchmark: cost of evaluating the program per stack under mocks, next to the SDK import floor.

For each stack, in fresh Python processes (so imports and memory are not shared between runs):
- `import`: only importing the SDK modules that stack needs (pulumi, pulumi_kubernetes,
  pulumi_random; plus pulumi_aws on eks) — the floor no program can go below;
- `program`: evaluating __main__.py under the recording mocks (offline.mockrun.run_stack), which
  includes those imports.
Reports the median wall time and the peak RSS of each, over --repeat runs.

    .venv/bin/python bench/program.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = {"local": ["pulumi", "pulumi_kubernetes", "pulumi_random"], "dev": ["pulumi", "pulumi_kubernetes", "pulumi_random"]}
SDKS["eks"] = SDKS["local"] + ["pulumi_aws"]

_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
print(json.dumps({{"wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "aws": "pulumi_aws" in sys.modules}}))
"""


def _measure(body: str) -> dict:
    code = _CHILD.format(body=body)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for stack, modules in SDKS.items():
        imports = [_measure("\n".join(f"import {m}" for m in modules)) for _ in range(args.repeat)]
        program = [_measure(f"from offline import mockrun\nrun = mockrun.run_stack({stack!r})\nassert run.resources") for _ in range(args.repeat)]
        rows.append(
            {
                "stack": stack,
                "import_s": statistics.median(r["wall"] for r in imports),
                "import_peak_mib": statistics.median(r["maxrss_kb"] for r in imports) / 1024,
                "program_s": statistics.median(r["wall"] for r in program),
                "program_peak_mib": statistics.median(r["maxrss_kb"] for r in program) / 1024,
                "loads_pulumi_aws": any(r["aws"] for r in program),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}  (median of {args.repeat} fresh processes)")
    print(f"{'stack':6} {'SDK import s':>13} {'peak MiB':>9} {'program s':>10} {'peak MiB':>9}  pulumi_aws loaded")
    for r in rows:
        print(f"{r['stack']:6} {r['import_s']:13.2f} {r['import_peak_mib']:9.0f} {r['program_s']:10.2f} {r['program_peak_mib']:9.0f}  {r['loads_pulumi_aws']}")


if __name__ == "__main__":
    main()
