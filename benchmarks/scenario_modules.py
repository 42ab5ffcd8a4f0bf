"""The conformance set on N modules at once (``quecemu scenario run --modules N``) against
the embedded server: the wall clock of the whole set, per scenario the slowest module.

    .venv/bin/python -m benchmarks.scenario_modules [--modules 100] [--scenario GLOB]

Prints one human line per scenario and a summary, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from scenario_tool.fleet import run_on_modules
from scenario_tool.format import load_scenario
from scenario_tool.runner import RunOptions

CONFORMANCE = Path(__file__).resolve().parents[1] / "scenarios" / "conformance"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=100)
    parser.add_argument("--scenario", default="*.yaml", help="a glob in scenarios/conformance")
    args = parser.parse_args(argv)
    scenarios = [load_scenario(path) for path in sorted(CONFORMANCE.glob(args.scenario))]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        results = asyncio.run(
            run_on_modules(scenarios, RunOptions(), Path(folder) / "run.log", args.modules, print)
        )
        wall = time.perf_counter() - started
    passed = sum(r.result.outcome == "passed" for r in results)
    failed = sum(r.result.outcome in ("failed", "error") for r in results)
    print(
        f"conformance set ({len(scenarios)} scenarios) on {args.modules} modules at once: "
        f"{wall:.1f} s wall, {passed} passed, {failed} failed or errors"
    )
    print(
        json.dumps(
            {
                "benchmark": "scenario_modules",
                "modules": args.modules,
                "scenarios": len(scenarios),
                "wall_s": wall,
                "passed": passed,
                "failed": failed,
            }
        )
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
