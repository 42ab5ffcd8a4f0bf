"""The conformance set on N modules at once (``quecemu scenario run --modules N``) against
the embedded server: the wall clock of the whole set, the CPU time it took (this process and
its workers), per scenario the slowest module.

    .venv/bin/python -m benchmarks.scenario_modules [--modules 100] [--workers W] [--scenario GLOB]

Prints one human line per scenario and a summary, then one JSON line. The load average at the
start and the end is printed too: on a shared machine the wall clock is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from scenario_tool.fleet import default_workers, run_on_modules
from scenario_tool.format import load_scenario
from scenario_tool.runner import RunOptions

CONFORMANCE = Path(__file__).resolve().parents[1] / "scenarios" / "conformance"


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that ended."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per CPU)"
    )
    parser.add_argument("--scenario", default="*.yaml", help="a glob in scenarios/conformance")
    args = parser.parse_args(argv)
    workers = min(args.workers or default_workers(), args.modules)
    scenarios = [load_scenario(path) for path in sorted(CONFORMANCE.glob(args.scenario))]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        cpu_started = cpu_seconds()
        started = time.perf_counter()
        results = run_on_modules(
            scenarios, RunOptions(), Path(folder) / "run.log", args.modules, print, workers=workers
        )
        wall = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
    load_after = os.getloadavg()[0]
    passed = sum(r.result.outcome == "passed" for r in results)
    failed = sum(r.result.outcome in ("failed", "error") for r in results)
    runs = len(results)
    print(
        f"conformance set ({len(scenarios)} scenarios) on {args.modules} modules at once, "
        f"{workers} worker(s): {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({cpu / runs * 1000:.1f} ms per module-scenario), {passed} passed, {failed} failed "
        f"or errors; load average {load_before:.2f} at the start, {load_after:.2f} at the end"
    )
    print(
        json.dumps(
            {
                "benchmark": "scenario_modules",
                "modules": args.modules,
                "workers": workers,
                "scenarios": len(scenarios),
                "wall_s": wall,
                "cpu_s": cpu,
                "cpu_ms_per_module_scenario": cpu / runs * 1000,
                "passed": passed,
                "failed": failed,
                "load_start": load_before,
                "load_end": load_after,
            }
        )
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
