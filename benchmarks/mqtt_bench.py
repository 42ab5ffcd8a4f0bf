"""MQTT through the module: publish -> +QMTRECV round trip, and a fleet of modules each
holding an MQTT connection (memory per module, idle CPU).

1. ``roundtrip``: one module subscribed to a topic publishes on it with AT+QMTPUB (length
   form) and waits for its own message to come back as +QMTRECV through mosquitto; the time
   from writing the command line to the URC's last byte, QoS 0 and QoS 1. For scale, the
   same round trip of a plain aiomqtt client on the same broker (ratio emulator/peer).
2. ``fleet``: ``quecemu serve --count N``; every module opens and connects (AT+QMTOPEN,
   AT+QMTCONN) to mosquitto; RSS per module = (RSS connected - RSS before) / N, and the
   serve process's CPU over an idle window while the N connections are held.

    python -m benchmarks.mqtt_bench [--what roundtrip|fleet|all] [--rounds 500]
                                    [--modules 200] [--idle-seconds 10]

mosquitto (Debian's package) runs on a free loopback port with its own configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiomqtt
import serial

from benchmarks._common import (
    ServeChild,
    cpu_seconds,
    median,
    percentile,
    report,
    rss_bytes,
)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_connections -1\n"
        )
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("mosquitto did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def read_until(port: serial.Serial, marker: bytes, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise SystemExit(f"no {marker!r} within {timeout} s; got {data[-200:]!r}")
        data += port.read(max(1, port.in_waiting))
    return data


def command(port: serial.Serial, line: str, urc: bytes | None = None) -> None:
    """Write ``line``; read its OK and then ``urc`` (both may come in one read)."""
    port.write(line.encode() + b"\r")
    read_until(port, urc if urc is not None else b"OK\r\n")


def connect_module(port: serial.Serial, broker: int, name: str) -> None:
    port.write(b"ATE0\r")
    read_until(port, b"OK\r\n")
    command(port, f'AT+QMTOPEN=0,"127.0.0.1",{broker}', b"+QMTOPEN: 0,0\r\n")
    command(port, f'AT+QMTCONN=0,"{name}"', b"+QMTCONN: 0,0,0\r\n")


def roundtrip(rounds: int, profile: list[str], tmp: Path, broker: Broker) -> None:
    with ServeChild(*profile, "--link", str(tmp / "rt")) as child:
        (module,) = child.wait_ready()
        with serial.Serial(module["link"], 115200, timeout=5) as port:
            connect_module(port, broker.port, "bench-rt")
            command(port, 'AT+QMTSUB=0,1,"bench/rt",1', b"+QMTSUB: 0,1,0,1\r\n")
            for qos in (0, 1):
                times: list[float] = []
                for i in range(rounds):
                    payload = f"{i:016d}".encode()
                    msgid = 0 if qos == 0 else i % 65535 + 1
                    start = time.perf_counter()
                    port.write(f'AT+QMTPUB=0,{msgid},{qos},0,"bench/rt",16\r'.encode())
                    read_until(port, b"> ")
                    port.write(payload)
                    read_until(port, b'"bench/rt","' + payload + b'"\r\n')
                    times.append(time.perf_counter() - start)
                    port.reset_input_buffer()  # +QMTPUB and OK may follow; not measured
                    time.sleep(0.002)
                    port.reset_input_buffer()
                med, p99 = median(times) * 1000, percentile(times, 0.99) * 1000
                peer = asyncio.run(peer_roundtrip(broker.port, rounds, qos))
                report(
                    f"mqtt_roundtrip_qos{qos}",
                    f"AT+QMTPUB -> +QMTRECV through mosquitto, {rounds} rounds: median "
                    f"{med:.2f} ms, p99 {p99:.2f} ms; aiomqtt alone {peer[0]:.2f} / "
                    f"{peer[1]:.2f} ms (ratio {med / peer[0]:.1f})",
                    median_ms=round(med, 3),
                    p99_ms=round(p99, 3),
                    peer_median_ms=round(peer[0], 3),
                    peer_p99_ms=round(peer[1], 3),
                    rounds=rounds,
                )
        child.stop()


async def peer_roundtrip(port: int, rounds: int, qos: int) -> tuple[float, float]:
    times: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"peer-{qos}") as client:
        await client.subscribe("bench/peer", qos=qos)
        messages = aiomqtt.Client.messages.__get__(client)  # the client's message iterator
        iterator = messages.__aiter__()
        for i in range(rounds):
            start = time.perf_counter()
            await client.publish("bench/peer", f"{i:016d}".encode(), qos=qos)
            await iterator.__anext__()
            times.append(time.perf_counter() - start)
    return median(times) * 1000, percentile(times, 0.99) * 1000


def fleet(count: int, idle: float, profile: list[str], tmp: Path, broker: Broker) -> None:
    with ServeChild(*profile, "--link", str(tmp / "f"), "--count", str(count)) as child:
        modules = child.wait_ready()
        for module in modules:  # every module answers before the baseline
            with serial.Serial(module["link"], 115200, timeout=5) as port:
                port.write(b"AT\r")
                read_until(port, b"OK\r\n")
        time.sleep(1.0)
        before = rss_bytes(child.pid)
        start = time.monotonic()
        for index, module in enumerate(modules):
            with serial.Serial(module["link"], 115200, timeout=5) as port:
                connect_module(port, broker.port, f"bench-fleet-{index}")
        connect_time = time.monotonic() - start
        time.sleep(2.0)
        after = rss_bytes(child.pid)
        cpu_start, wall_start = cpu_seconds(child.pid), time.monotonic()
        time.sleep(idle)
        cpu = (cpu_seconds(child.pid) - cpu_start) / (time.monotonic() - wall_start)
        per_module = (after - before) / count
        report(
            "mqtt_fleet",
            f"{count} modules each holding an MQTT connection to mosquitto (connected in "
            f"{connect_time:.1f} s): {per_module / 1024:.0f} KiB RSS per connection "
            f"(RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB); idle CPU "
            f"{cpu * 100:.1f} % of one core over {idle:g} s",
            modules=count,
            rss_per_module_kib=round(per_module / 1024, 1),
            rss_before_mib=round(before / 2**20, 1),
            rss_after_mib=round(after / 2**20, 1),
            idle_cpu_percent=round(cpu * 100, 2),
            connect_seconds=round(connect_time, 2),
        )
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", choices=("roundtrip", "fleet", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--modules", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not os.path.exists(MOSQUITTO):
        raise SystemExit("mosquitto is not installed (make setup installs it)")
    profile = ["--model", "EC200U"]
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as folder:
        tmp = Path(folder)
        broker = Broker(tmp)
        try:
            if args.what in ("roundtrip", "all"):
                roundtrip(args.rounds, profile, tmp, broker)
            if args.what in ("fleet", "all"):
                fleet(args.modules, args.idle_seconds, profile, tmp, broker)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
