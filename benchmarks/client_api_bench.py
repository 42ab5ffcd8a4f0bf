"""client_api timings: ``lwm2m.config()`` round trip and URC-to-callback delay.

    .venv/bin/python benchmarks/client_api_bench.py [--rounds N] [--port PORT]

By default the module is a minimal responder on the master side of a pty in this process
(echo on, ``OK`` for every line, framed as the emulator frames it), so the numbers are the
host side's own cost plus one pty round trip. ``--port`` measures ``config()`` against a
real module or a running ``quecemu serve`` instead (the callback delay needs URCs at known
times, so it is measured only against the responder).

The callback delay runs from just before the URC's bytes are written (one ``write`` of the
whole framed line, so its last byte leaves then) to the moment the ``register_call``
callback starts. Targets: config <= 2 ms median, callback <= 1 ms median. Numbers only;
nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import threading
import time
import tty

from client_api.channel import AtChannel
from client_api.lwm2m import Urc, lwm2m

URC_TEXT = '+QLWURC: "ready","successfully",1000'


class Responder:
    """Echo + ``OK`` for every command line, on a pty master."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            os.write(self.master, data)

    def _serve(self) -> None:
        line = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            out = bytearray(data)  # echo
            for byte in data:
                if byte == 0x0D:
                    if line:
                        out += b"\r\nOK\r\n"
                    line.clear()
                elif byte != 0x0A:
                    line.append(byte)
            self.write(bytes(out))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        os.close(self.master)
        os.close(self._slave)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{name:<28} n={len(ms):<5} median {statistics.median(ms):7.3f} ms"
        f"   p99 {percentile(ms, 0.99):7.3f} ms   max {max(ms):7.3f} ms"
    )


def bench_config(channel: AtChannel, rounds: int) -> list[float]:
    lw = lwm2m(channel)
    times: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = lw.config(Urc, [1])
        times.append(time.perf_counter() - start)
        if result != 0:
            raise SystemExit(f"config returned {result}; is the port an LwM2M-capable module?")
    return times


def bench_callback(channel: AtChannel, responder: Responder, rounds: int) -> list[float]:
    lw = lwm2m(channel)
    arrived = threading.Event()
    stamp: list[float] = []

    def callback(args: list[object]) -> None:
        stamp.append(time.perf_counter())
        arrived.set()

    lw.register_call(callback)
    frame = f"\r\n{URC_TEXT}\r\n".encode()
    delays: list[float] = []
    for _ in range(rounds):
        arrived.clear()
        stamp.clear()
        sent = time.perf_counter()
        responder.write(frame)
        if not arrived.wait(2.0):
            raise SystemExit("a URC did not reach the callback within 2 s")
        delays.append(stamp[0] - sent)
    lw.register_call(None)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--port", help="measure config() against this port instead")
    options = parser.parse_args()
    if options.port:
        channel = AtChannel(options.port)
        if not channel.wait_connected(5):
            raise SystemExit(f"cannot open {options.port}: {channel.gone_reason}")
        report(f"config() on {options.port}", bench_config(channel, options.rounds))
        channel.close()
        return
    responder = Responder()
    channel = AtChannel(responder.path)
    try:
        bench_config(channel, 50)  # warm-up
        report("config() round trip", bench_config(channel, options.rounds))
        report("URC -> callback delay", bench_callback(channel, responder, options.rounds))
    finally:
        channel.close()
        responder.close()


if __name__ == "__main__":
    main()
