"""The client_api system modules against ``quecemu serve`` over its pty.

1. ``getters``: the time one QuecPython getter call takes end to end (Python API -> AT
   command(s) -> the emulator -> parsed result): ``net.getSignal``, ``net.getCellInfo``
   (two AT commands), ``net.getNetMode`` (four: read, format, read, restore),
   ``machine.RTC().datetime()``, ``dataCall.getApn``.
2. ``files``: ``ql_fs.touch`` + ``ql_fs.read_json`` of a small JSON file in the ``/usr``
   sandbox (the PC's file system cost plus the path checks).
3. ``timer``: how late a 20 ms cyclic ``osTimer`` fires (lateness of each expiry against
   its schedule), on a PC shared with other work.

    python -m benchmarks.client_api_system [--rounds 200]

Numbers only; nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import client_api
from benchmarks._common import ServeChild, median, percentile, report
from client_api.quecpython import _host, _sandbox, datacall, net, ql_fs
from client_api.quecpython.machine import RTC
from client_api.quecpython.ostimer import osTimer


def timed(name: str, call: Callable[[], object], rounds: int) -> None:
    call()  # warm up (first command learns the echo setting)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
        if result == -1:
            raise RuntimeError(f"{name} failed")
    report(
        f"getter {name}",
        f"n={rounds} median {median(samples):.3f} ms p99 {percentile(samples, 0.99):.3f} ms",
        median_ms=median(samples),
        p99_ms=percentile(samples, 0.99),
        rounds=rounds,
    )


def timer_lateness(period_ms: int, expiries: int) -> None:
    start = time.monotonic()
    late: list[float] = []
    done = threading.Event()
    timer = osTimer()

    def tick(_arg: object) -> None:
        n = len(late) + 1
        late.append((time.monotonic() - (start + n * period_ms / 1000)) * 1000)
        if n == expiries:
            timer.stop()
            done.set()

    start = time.monotonic()
    timer.start(period_ms, 1, tick)
    done.wait(expiries * period_ms / 1000 * 5 + 10)
    report(
        "osTimer lateness",
        f"{period_ms} ms cyclic, n={len(late)} median {median(late):.3f} ms"
        f" p99 {percentile(late, 0.99):.3f} ms",
        median_ms=median(late),
        p99_ms=percentile(late, 0.99),
        expiries=len(late),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "ttyQ"
        with ServeChild("--model", "EC200U", "--link", str(link)) as child:
            child.wait_ready()
            client_api.open(str(link), command_timeout=5.0)
            rtc = RTC()
            timed("net.getSignal", net.getSignal, options.rounds)
            timed("net.getCellInfo", net.getCellInfo, options.rounds)
            timed("net.getNetMode", net.getNetMode, options.rounds)
            timed("machine.RTC.datetime", rtc.datetime, options.rounds)
            timed("dataCall.getApn", lambda: datacall.getApn(0), options.rounds)
            _host.settings.usr = Path(tmp) / "usr"
            _sandbox.reset()

            def touch_and_read() -> object:
                ql_fs.touch("/usr/bench.json", {"n": 1, "name": "bench"})
                return ql_fs.read_json("/usr/bench.json")

            timed("ql_fs.touch+read_json", touch_and_read, options.rounds)
            timer_lateness(20, max(50, options.rounds // 2))
            client_api.close_all()
            child.stop()


if __name__ == "__main__":
    main()
