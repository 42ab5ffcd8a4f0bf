"""Wall time of the whole conformance set (scenarios/conformance) against the embedded server.

Each scenario runs as ``quecemu scenario run`` runs it: a fresh embedded LwM2M server, the
fault relays, and the virtual module with its LwM2M client in this process. The time is the
wall clock from the first scenario's start to the last one's end, setup and teardown included;
the per-scenario times say where it goes (most of it is protocol time the scenarios wait on
on purpose: pmin/pmax periods, a CoAP retransmission after a dropped datagram, a pause).

    .venv/bin/python -m benchmarks.conformance_walltime [--repeat 3]
    # against one external module (quecemu serve --tcp 127.0.0.1:0 prints its address);
    # each scenario then starts with the module's reset (reboot, factory settings):
    .venv/bin/python -m benchmarks.conformance_walltime --port 127.0.0.1:40001 --repeat 3

Prints one human line per run and per scenario, then one JSON line per run and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from scenario_tool.format import load_scenario
from scenario_tool.runner import Runner, RunOptions
from scenario_tool.transcript import Transcript

CONFORMANCE = Path(__file__).resolve().parents[1] / "scenarios" / "conformance"


async def run_once(files: list[Path], options: RunOptions) -> tuple[float, dict[str, float], int]:
    scenarios = [load_scenario(path) for path in files]
    transcript = Transcript(None)  # kept in memory: the benchmark measures, it does not log
    runner = Runner(options, transcript)
    started = time.perf_counter()
    results = await runner.run_all(scenarios)
    wall = time.perf_counter() - started
    # Skipped scenarios (those that change an external module's radio) take no time.
    per_scenario = {r.scenario.name: r.seconds for r in results if r.outcome != "skipped"}
    failed = sum(r.outcome not in ("passed", "skipped") for r in results)
    return wall, per_scenario, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole set")
    parser.add_argument("--port", help="an external module's AT port (HOST:PORT or a device)")
    parser.add_argument(
        "--keep-state", action="store_true", help="with --port: no reset between scenarios"
    )
    args = parser.parse_args(argv)
    options = RunOptions(port=args.port, reset_module=not args.keep_state)
    files = sorted(CONFORMANCE.glob("*.yaml"))
    walls: list[float] = []
    status = 0
    for run in range(1, args.repeat + 1):
        wall, per_scenario, failed = asyncio.run(run_once(files, options))
        walls.append(wall)
        print(
            f"run {run}: {len(per_scenario)} of {len(files)} scenarios in {wall:.2f} s wall, "
            f"{failed} not passed"
        )
        for name, seconds in sorted(per_scenario.items(), key=lambda item: -item[1]):
            print(f"    {seconds:7.3f} s  {name}")
        print(
            json.dumps(
                {
                    "benchmark": "conformance_walltime",
                    "run": run,
                    "scenarios": len(per_scenario),
                    "external": args.port is not None,
                    "failed": failed,
                    "wall_s": round(wall, 3),
                    "per_scenario_s": {k: round(v, 3) for k, v in per_scenario.items()},
                }
            )
        )
        if failed:
            status = 1
    summary = {
        "benchmark": "conformance_walltime",
        "runs": len(walls),
        "median_wall_s": round(statistics.median(walls), 3),
        "min_wall_s": round(min(walls), 3),
        "max_wall_s": round(max(walls), 3),
    }
    print(
        f"conformance set: median {summary['median_wall_s']} s wall over {len(walls)} run(s) "
        f"(min {summary['min_wall_s']} s, max {summary['max_wall_s']} s)"
    )
    print(json.dumps(summary))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
