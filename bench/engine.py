"""Benchmark: the real Pulumi engine of tools/engine on the local stack, next to an empty program.

- `build (warm)`: tools/engine/build.sh when everything is cached (what every run pays);
- `build (cold)` with --cold: the same with fresh GOCACHE, GOMODCACHE and engine cache in a
  temporary directory, as on a new CI machine (downloads from the module proxy included; long);
- per program (the local stack from a copy of the project, and an empty Python program: the
  engine's floor, CLI + language host + Python start): the median and min wall time of
  `pulumi preview`, of `pulumi up --yes` with nothing to change, and of `pulumi up --yes` from an
  empty stack (after `pulumi destroy`), over --repeat runs. State, home and passphrase are
  temporary, so a developer's own state is untouched.

    .venv/bin/python bench/engine.py [--repeat 3] [--cold] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "tools" / "engine" / "build.sh"
sys.path.insert(0, str(ROOT / "tests" / "engine"))
from engine_support import Engine, copy_project, write_program  # noqa: E402  (same isolation as the tests)


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, done


def build(env: dict[str, str] | None = None) -> tuple[float, Path]:
    elapsed, done = timed(["bash", str(BUILD)], env=env, timeout=7200)
    return elapsed, Path(done.stdout.strip().splitlines()[-1])


def cold_build() -> float:
    with tempfile.TemporaryDirectory(prefix="engine-cold-") as tmp:
        env = dict(os.environ, GOCACHE=f"{tmp}/gocache", GOMODCACHE=f"{tmp}/gomodcache",
                   SESSIONSTACK_ENGINE_CACHE=f"{tmp}/engine", SESSIONSTACK_PULUMI_FROM_PATH="0")
        elapsed, _ = build(env)
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # the module cache is read-only
        return elapsed


def measure(project: Path, engine: Engine, stack: str, repeat: int) -> dict[str, list[float]]:
    pulumi_bin = str(engine.bin_dir / "pulumi")
    env = engine.env
    (engine.base / "state").mkdir(parents=True, exist_ok=True)

    def pulumi(*args: str) -> float:
        return timed([pulumi_bin, *args, "--stack", stack, "--non-interactive"], cwd=project, env=env, timeout=1200)[0]

    timed([pulumi_bin, "stack", "init", stack, "--non-interactive"], cwd=project, env=env)
    pulumi("up", "--yes")  # warm-up; creates everything once
    times: dict[str, list[float]] = {"preview": [], "up (no changes)": [], "up (from empty)": []}
    for _ in range(repeat):
        times["preview"].append(pulumi("preview"))
        times["up (no changes)"].append(pulumi("up", "--yes"))
        pulumi("destroy", "--yes")
        times["up (from empty)"].append(pulumi("up", "--yes"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a build from empty Go caches")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    warm, bin_dir = build()  # first call may build; time the next one, which is what every run pays
    warm, bin_dir = build()
    results["build (warm)"] = {"median_s": warm, "min_s": warm}
    if args.cold:
        cold = cold_build()
        results["build (cold)"] = {"median_s": cold, "min_s": cold}

    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        base = Path(tmp)
        programs = (
            ("local stack", lambda d: copy_project(d), "local"),
            ("empty program", lambda d: write_program(d, "empty", "import pulumi\n"), "bench"),
        )
        for label, make, stack in programs:
            slug = label.replace(" ", "-")
            project = make(base / slug)
            engine = Engine(bin_dir, base / f"{slug}-pulumi")
            for op, samples in measure(project, engine, stack, args.repeat).items():
                results[f"{label}: {op}"] = {"median_s": statistics.median(samples), "min_s": min(samples)}

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"engine bin: {bin_dir}\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}  (repeat={args.repeat})")
    print(f"{'measurement':<34} {'median s':>9} {'min s':>9}")
    for name, r in results.items():
        print(f"{name:<34} {r['median_s']:>9.2f} {r['min_s']:>9.2f}")


if __name__ == "__main__":
    main()
