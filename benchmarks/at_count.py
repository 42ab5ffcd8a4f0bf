"""Many modules in one process: ``quecemu serve --count 200``, every one answers ``AT``.

Reports the time to ``ready``, the time for all modules to answer, and resident memory
per module: (RSS with N modules - RSS with 1 module) / (N - 1), both taken after every
module answered, so the baseline takes out the interpreter and the imports.

    python -m benchmarks.at_count [--count 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import serial

from benchmarks._common import ServeChild, report, rss_bytes


def run(count: int, profile: list[str], tmp: Path) -> tuple[float, float, int, list[str]]:
    """Seconds to ready, seconds for all to answer, RSS after, IMEIs."""
    start = time.monotonic()
    with ServeChild(*profile, "--link", str(tmp / f"n{count}-"), "--count", str(count)) as child:
        modules = child.wait_ready()
        ready = time.monotonic() - start
        start = time.monotonic()
        for module in modules:
            with serial.Serial(module["link"], 115200, timeout=5) as port:
                port.write(b"AT\r")
                answer = port.read_until(b"OK\r\n")
                if answer != b"AT\r\r\nOK\r\n":
                    raise SystemExit(f"module {module} answered {answer!r}")
        answered = time.monotonic() - start
        rss = rss_bytes(child.pid)
        if child.stop() != 0:
            raise SystemExit("serve did not exit 0")
    return ready, answered, rss, [m["imei"] for m in modules]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    profile = ["--model", "EC200U"]
    with tempfile.TemporaryDirectory() as tmp:
        _, _, base_rss, _ = run(1, profile, Path(tmp))
        ready, answered, rss, imeis = run(args.count, profile, Path(tmp))
    if len(set(imeis)) != args.count:
        raise SystemExit("IMEIs are not all different")
    per_module = (rss - base_rss) / max(1, args.count - 1)
    report(
        "at_count",
        f"{args.count} modules: ready in {ready:.2f} s, all answered AT in {answered:.2f} s;"
        f" RSS {rss / 2**20:.1f} MiB (1 module: {base_rss / 2**20:.1f} MiB),"
        f" {per_module / 1024:.1f} KiB per module",
        modules=args.count,
        all_answered=True,
        ready_seconds=round(ready, 3),
        answer_all_seconds=round(answered, 3),
        rss_bytes=rss,
        baseline_rss_bytes=base_rss,
        rss_per_module_bytes=round(per_module),
    )


if __name__ == "__main__":
    main()
