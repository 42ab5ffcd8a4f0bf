"""AT round trip on the pty through pyserial: ``AT\\r`` written -> ``OK`` read.

Targets (issue 2): median <= 0.5 ms, p99 <= 2 ms over 10,000 commands. The emulator runs
as ``quecemu serve`` in its own process, as it does for a user; the client is pyserial's
``read_until``, as a host program would use it. ``--transport tcp`` measures the TCP port
with a plain socket instead.

    python -m benchmarks.at_roundtrip [--commands 10000] [--transport pty|tcp]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import serial

from benchmarks._common import ServeChild, median, percentile, report

ANSWER = b"AT\r\r\nOK\r\n"
MEDIAN_TARGET_MS = 0.5
P99_TARGET_MS = 2.0


def pty_exchanger(device: str) -> tuple[Callable[[], bytes], Callable[[], None]]:
    port = serial.Serial(device, 115200, timeout=5)

    def exchange() -> bytes:
        port.write(b"AT\r")
        answer: bytes = port.read_until(b"OK\r\n")
        return answer

    return exchange, port.close


def tcp_exchanger(address: str) -> tuple[Callable[[], bytes], Callable[[], None]]:
    host, _, port_text = address.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port_text)), timeout=5)

    def exchange() -> bytes:
        sock.sendall(b"AT\r")
        answer = b""
        while not answer.endswith(b"OK\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer

    return exchange, sock.close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--transport", choices=("pty", "tcp"), default="pty")
    args = parser.parse_args()
    profile = ["--model", "EC200U"]
    with tempfile.TemporaryDirectory() as tmp:
        where = ["--link", str(Path(tmp) / "ttyQ")]
        if args.transport == "tcp":
            where = ["--tcp", "127.0.0.1:0"]
        with ServeChild(*profile, *where) as child:
            (module,) = child.wait_ready()
            if args.transport == "tcp":
                exchange, close = tcp_exchanger(module["tcp"])
            else:
                exchange, close = pty_exchanger(module["link"])
            for _ in range(args.warmup):
                assert exchange() == ANSWER
            times_ms = []
            for _ in range(args.commands):
                start = time.perf_counter_ns()
                answer = exchange()
                times_ms.append((time.perf_counter_ns() - start) / 1e6)
                if answer != ANSWER:
                    raise SystemExit(f"unexpected answer {answer!r}")
            close()
            child.stop()
    med, p99 = median(times_ms), percentile(times_ms, 0.99)
    verdict = "meets" if med <= MEDIAN_TARGET_MS and p99 <= P99_TARGET_MS else "MISSES"
    report(
        f"at_roundtrip_{args.transport}",
        f"{args.commands} x AT: median {med:.3f} ms, p99 {p99:.3f} ms, max {max(times_ms):.3f}"
        f" ms ({verdict} targets median <= {MEDIAN_TARGET_MS} ms, p99 <= {P99_TARGET_MS} ms)",
        transport=args.transport,
        commands=args.commands,
        median_ms=round(med, 4),
        p99_ms=round(p99, 4),
        max_ms=round(max(times_ms), 4),
        mean_ms=round(sum(times_ms) / len(times_ms), 4),
        meets_targets=verdict == "meets",
    )


if __name__ == "__main__":
    main()
