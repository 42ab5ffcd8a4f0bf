"""Several ``quecemu serve --mqtt --replica R`` processes on one mosquitto (issue 14 part 4).

Measures: time until every process is ready and every module's retained status is on the
broker; a controller's AT round trip (``AT+CGSN``) to random modules of every process through
the broker, one at a time (median, p99); a control's round trip (``signal``); the same AT
requests 200 at once (requests/s).

    python -m benchmarks.fleet_mqtt [--processes 4] [--count 2500] [--rounds 200] [--headless]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import REPO, ServeChild, percentile
from emulator.adapters.controlplane import BrokerAddress
from emulator.app.controller import Controller

FIRST = "869339060001965"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nset_tcp_nodelay true\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def ready_imeis(child: ServeChild) -> list[str]:
    """The IMEIs of a child's ``module N MODEL IMEI X ...`` lines (tcp or headless)."""
    assert child.proc.stdout is not None
    imeis: list[str] = []
    deadline = time.monotonic() + 600
    for raw in child.proc.stdout:
        line = raw.decode().strip()
        if line == "ready":
            return imeis
        words = line.split()
        if len(words) >= 5 and words[0] == "module" and words[3] == "IMEI":
            imeis.append(words[4])
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"serve did not get ready (exit {child.proc.poll()})")


def report(name: str, human: str, **values: Any) -> None:
    print(f"{name}: {human}")
    print(json.dumps({"benchmark": name, **values}))


async def measure(port: int, imeis: list[list[str]], rounds: int) -> None:
    total = sum(len(group) for group in imeis)
    chooser = random.Random(14)
    async with Controller(BrokerAddress("127.0.0.1", port)) as controller:
        started = time.monotonic()
        seen: set[str] = set()
        async for _, body in controller.watch(["quecemu/+/status"], duration=300):
            seen.add(body["imei"])
            if len(seen) == total:
                break
        report(
            "fleet_mqtt_statuses",
            f"{len(seen)} of {total} retained statuses read in {time.monotonic() - started:.2f} s",
            statuses=len(seen),
            modules=total,
            seconds=time.monotonic() - started,
        )
        latencies: list[float] = []
        for number in range(rounds):
            imei = chooser.choice(imeis[number % len(imeis)])
            began = time.perf_counter()
            answer = await controller.at(imei, "AT+CGSN")
            latencies.append((time.perf_counter() - began) * 1000)
            assert answer["lines"] == [imei, "OK"], answer
        report(
            "fleet_mqtt_at_roundtrip",
            f"AT+CGSN to a random module of each process: median "
            f"{statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms",
            median_ms=statistics.median(latencies),
            p99_ms=percentile(latencies, 0.99),
            rounds=rounds,
        )
        controls: list[float] = []
        for number in range(rounds):
            imei = chooser.choice(imeis[number % len(imeis)])
            began = time.perf_counter()
            answer = await controller.control(imei, "signal", rssi=10 + number % 20)
            controls.append((time.perf_counter() - began) * 1000)
            assert answer["error"] is None, answer
        report(
            "fleet_mqtt_control_roundtrip",
            f"signal control: median {statistics.median(controls):.2f} ms, "
            f"p99 {percentile(controls, 0.99):.2f} ms",
            median_ms=statistics.median(controls),
            p99_ms=percentile(controls, 0.99),
            rounds=rounds,
        )
        batch = [chooser.choice(group) for group in imeis for _ in range(50)]
        began = time.perf_counter()
        answers = await asyncio.gather(*(controller.at(imei, "AT+CSQ") for imei in batch))
        elapsed = time.perf_counter() - began
        assert all(a["final"] == "OK" for a in answers)
        report(
            "fleet_mqtt_at_burst",
            f"{len(batch)} AT requests at once: {len(batch) / elapsed:.0f} requests/s",
            requests=len(batch),
            per_second=len(batch) / elapsed,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--count", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--headless", action="store_true", help="modules without AT ports (serve --headless)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        broker, port = start_mosquitto(Path(folder))
        children: list[ServeChild] = []
        try:
            started = time.monotonic()
            transport = ["--headless"] if args.headless else ["--tcp", "127.0.0.1:0"]
            for replica in range(args.processes):
                children.append(
                    ServeChild(
                        *transport,
                        "--count",
                        str(args.count),
                        "--replica",
                        str(replica),
                        "--mqtt",
                        f"mqtt://127.0.0.1:{port}",
                    )
                )
            imeis = [ready_imeis(child) for child in children]
            report(
                "fleet_mqtt_ready",
                f"{args.processes} x {args.count} modules ready in "
                f"{time.monotonic() - started:.1f} s",
                processes=args.processes,
                count=args.count,
                seconds=time.monotonic() - started,
            )
            asyncio.run(measure(port, imeis, args.rounds))
        finally:
            for child in children:
                if child.proc.poll() is None:
                    child.proc.terminate()
            for child in children:
                try:
                    child.proc.wait(120)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait(10)
            broker.terminate()
            broker.wait(10)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
