"""The module's LwM2M client on loopback: registration latency, server Read latency, memory.

Targets (issue 3): ``AT+QLWREG`` → ``"ready","successfully"`` median <= 20 ms over plain
CoAP and <= 50 ms with DTLS-PSK; a server Read of /3/0 answered median <= 5 ms; memory per
registered module (reported).

- ``register``: each round boots a fresh module (its own aiocoap context, a new DTLS
  session), sends ``AT+QLWREG`` through the AT engine and stops the clock at the URC. The
  server is libcoap's ``coap-rd-openssl`` in its own process (a CoRE resource directory that
  takes LwM2M's ``POST /rd``; DTLS on port + 1).
- ``read``: one module registered with the embedded LwM2M server (same process); the server
  reads /3/0 (TLV) again and again; the time is the server's request → decoded answer.
- ``memory``: N modules registered with coap-rd; RSS growth of this process divided by N.

    python -m benchmarks.lwm2m_client [--what register|read|memory|all] [--rounds 200]
        [--modules 200]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import shutil
import socket
import time

from benchmarks._common import median, percentile, report, rss_bytes
from emulator.adapters.factory import hosted_module
from emulator.module.profile import ModuleProfile, load_profile
from emulator.module.state import derive_imei

REGISTER_PLAIN_TARGET_MS = 20.0
REGISTER_DTLS_TARGET_MS = 50.0
READ_TARGET_MS = 5.0
PSK = b"benchPSK"


def bench_profile() -> ModuleProfile:
    profile = load_profile("EC200U")
    boot = dataclasses.replace(profile.boot, duration=0.01, urc_gap=0.0)
    return dataclasses.replace(profile, boot=boot)


class Device:
    """A module on its asyncio host; waits on its own output."""

    def __init__(self, profile: ModuleProfile, index: int) -> None:
        loop = asyncio.get_running_loop()
        imei = derive_imei(profile.identity.imei, index)
        self.host = hosted_module(profile, imei=imei, clock=loop.time)
        self.module = self.host.module
        self.output = bytearray()
        self.changed = asyncio.Event()
        self.host.add_sink(self._sink)
        self.endpoint = f"urn:imei:{imei}"

    def _sink(self, data: bytes) -> None:
        self.output += data
        self.changed.set()

    async def until(self, marker: bytes, start: int = 0, timeout: float = 10.0) -> int:
        async def wait() -> int:
            while (index := self.output.find(marker, start)) < 0:
                self.changed.clear()
                await self.changed.wait()
            return index + len(marker)

        return await asyncio.wait_for(wait(), timeout)

    async def start(self) -> Device:
        await self.host.start()
        await self.until(b"+QIND: PB DONE")
        await self.at("ATE0")
        return self

    async def at(self, line: str) -> bytes:
        mark = len(self.output)
        self.host.feed(line.encode("ascii") + b"\r")
        end = await self.until(b"OK\r\n", mark)
        return bytes(self.output[mark:end])

    async def register(self) -> float:
        """Seconds from AT+QLWREG's CR to the ready URC's last byte."""
        mark = len(self.output)
        started = time.perf_counter()
        self.host.feed(b"AT+QLWREG\r")
        await self.until(b'"ready"', mark)
        elapsed = time.perf_counter() - started
        if b'"ready","successfully"' not in self.output[mark:]:
            raise SystemExit(f"registration failed: {bytes(self.output[mark:])!r}")
        return elapsed

    async def stop(self) -> None:
        await self.host.stop()


class CoapRd:
    """libcoap's resource directory (coap-rd-openssl) on loopback."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> CoapRd:
        binary = shutil.which("coap-rd-openssl")
        if binary is None:
            raise SystemExit("coap-rd-openssl is missing (Debian libcoap3-bin)")
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.process = await asyncio.create_subprocess_exec(
                binary,
                "-A",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                PSK.decode(),
                "-v",
                "0",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            self.port = port
            for _ in range(200):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    try:
                        probe.bind(("127.0.0.1", port + 1))
                    except OSError:
                        return self
                await asyncio.sleep(0.01)
            await self.stop()
        raise SystemExit("coap-rd-openssl did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def configure(device: Device, rd: CoapRd, *, dtls: bool) -> None:
    if dtls:
        address = f"coaps://127.0.0.1:{rd.port + 1}"
        line = f'AT+QLWCFG="security",1,1000,"{address}",0,0,"{device.endpoint}","{PSK.hex()}"'
    else:
        line = f'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:{rd.port}",0,3'
    await device.at(line)
    await device.at('AT+QLWCFG="server",1,3600,1,60,86400,0,"U"')


async def bench_register(rounds: int) -> None:
    profile = bench_profile()
    rd = await CoapRd().start()
    try:
        for dtls, target in ((False, REGISTER_PLAIN_TARGET_MS), (True, REGISTER_DTLS_TARGET_MS)):
            samples: list[float] = []
            for index in range(rounds):
                device = await Device(profile, index + (rounds if dtls else 0)).start()
                try:
                    await configure(device, rd, dtls=dtls)
                    samples.append(await device.register() * 1000)
                finally:
                    await device.stop()
            kind = "dtls" if dtls else "plain"
            mid, p90 = median(samples), percentile(samples, 0.9)
            report(
                f"lwm2m_register_{kind}",
                f"AT+QLWREG -> ready ({kind}, coap-rd): median {mid:.2f} ms, p90 {p90:.2f} ms, "
                f"max {max(samples):.2f} ms over {rounds} (target median <= {target:g} ms)",
                median_ms=round(mid, 3),
                p90_ms=round(p90, 3),
                max_ms=round(max(samples), 3),
                rounds=rounds,
                target_ms=target,
                met=mid <= target,
            )
    finally:
        await rd.stop()


async def bench_read(rounds: int) -> None:
    from emulator.adapters.lwm2m_server import LwM2MServer
    from emulator.lwm2m.formats import ContentFormat

    server = await LwM2MServer.start(coap=("127.0.0.1", 0), request_timeout=5.0)
    device = await Device(bench_profile(), 0).start()
    try:
        await device.at(f'AT+QLWCFG="security",1,1000,"{server.uri("coap")}",0,3')
        await device.at('AT+QLWCFG="server",1,3600,1,60,86400,0,"U"')
        await device.register()
        await server.wait_registered(device.endpoint)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            await server.read(device.endpoint, "/3/0", format=ContentFormat.TLV)
            samples.append((time.perf_counter() - started) * 1000)
        mid, p99 = median(samples), percentile(samples, 0.99)
        report(
            "lwm2m_read_device",
            f"server Read /3/0 (TLV, embedded server, same process): median {mid:.2f} ms, "
            f"p99 {p99:.2f} ms over {rounds} (target median <= {READ_TARGET_MS:g} ms)",
            median_ms=round(mid, 3),
            p99_ms=round(p99, 3),
            rounds=rounds,
            target_ms=READ_TARGET_MS,
            met=mid <= READ_TARGET_MS,
        )
    finally:
        await device.stop()
        await server.stop()


async def bench_memory(count: int) -> None:
    profile = bench_profile()
    rd = await CoapRd().start()
    devices: list[Device] = []

    async def registered(index: int) -> Device:
        device = await Device(profile, index).start()
        await configure(device, rd, dtls=False)
        await device.register()
        return device

    try:
        devices.append(await registered(10_000))  # imports, the first context
        gc.collect()
        before = rss_bytes(os.getpid())
        for index in range(count):
            devices.append(await registered(index))
        gc.collect()
        per_module = (rss_bytes(os.getpid()) - before) / count
        report(
            "lwm2m_memory_per_module",
            f"{count} modules registered (plain CoAP, each its own aiocoap context): "
            f"{per_module / 1024:.0f} KiB RSS per module",
            modules=count,
            bytes_per_module=int(per_module),
        )
    finally:
        for device in devices:
            await device.stop()
        await rd.stop()


async def main(what: str, rounds: int, modules: int) -> None:
    if what in ("register", "all"):
        await bench_register(rounds)
    if what in ("read", "all"):
        await bench_read(rounds * 5)
    if what in ("memory", "all"):
        await bench_memory(modules)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", choices=("register", "read", "memory", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--modules", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.what, args.rounds, args.modules))
