"""CPU of an idle module over a stretch of time, without and with a host holding the port.

Target (issue 2): < 1 % of one core. Measured from the ``quecemu serve`` process's own
user + system time (/proc/<pid>/stat) after it printed ``ready``.

    python -m benchmarks.at_idle [--seconds 60] [--count 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import serial

from benchmarks._common import ServeChild, cpu_seconds, report

TARGET = 0.01  # of one core


def cpu_share(pid: int, seconds: float) -> float:
    cpu, wall = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the measurement: let the idle process be idle
    return (cpu_seconds(pid) - cpu) / (time.monotonic() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per measurement")
    parser.add_argument("--count", type=int, default=1, help="modules in the process")
    args = parser.parse_args()
    profile = ["--model", "EC200U"]
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "ttyQ"
        with ServeChild(*profile, "--link", str(link), "--count", str(args.count)) as child:
            modules = child.wait_ready()
            nobody = cpu_share(child.pid, args.seconds)
            with serial.Serial(modules[0]["link"], 115200, timeout=5) as port:
                port.write(b"AT\r")
                if not port.read_until(b"OK\r\n").endswith(b"OK\r\n"):
                    raise SystemExit("the module did not answer AT")
                holding = cpu_share(child.pid, args.seconds)
            child.stop()
    for case, share in (("no_host", nobody), ("host_holding_port", holding)):
        verdict = "meets" if share < TARGET else "MISSES"
        report(
            f"at_idle_{case}",
            f"{args.count} module(s), {args.seconds:.0f} s: {100 * share:.3f} % of one core"
            f" ({verdict} target < {100 * TARGET:.0f} %)",
            case=case,
            modules=args.count,
            seconds=args.seconds,
            cpu_percent=round(100 * share, 4),
            meets_target=verdict == "meets",
        )


if __name__ == "__main__":
    main()
