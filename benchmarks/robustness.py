"""The robustness campaign (issue 9): junk in, nothing breaks, memory stays bounded, the module
recovers by itself.

- ``at``: ``--lines`` (1,000,000) AT lines from a seeded generator (the module's own command
  names in every form with odd parameters, and arbitrary bytes) into ``quecemu serve --tcp``;
  after every ``--batch`` lines the prompt is cancelled (ESC), echo/verbose/quiet are reset
  and ``AT+GMI;+GSN`` must be answered; a batch that ended inside a data mode ESC does not
  end (an upload, a transparent socket) is finished as a host would (Ctrl-Z, filler bytes,
  ``+++``) and counted; no answer 30 s after that is a hang. Crashes (the child exits),
  hangs, tracebacks on its stderr and its RSS growth are the figures.
- ``datagrams``: ``--datagrams`` (100,000) junk datagrams to each side at once: to a module
  registered with an LwM2M server (``quecemu serve`` child, its LwM2M socket) and to a
  ``quecemu server`` child. The mix: the non-UTF-8 Uri-Path ``42010001465ab1ff``, random
  bytes, almost-CoAP (random header, options, payload), Block1 transfers with gaps, odd
  requests. Then both must still work (AT, ``AT+QLWSTAT?``, a server Read; a Register). RSS
  is read before, right after, and after ``--settle`` seconds (the exchange lifetime, 247 s):
  the target is growth within 10 MB after the settle.
- ``relay``: ``--registrations`` (200) modules with factory CoAP timing register through a
  relay dropping ``--drop`` (30 %) of datagrams each way, ``--wave`` at a time: success
  share (target >= 99 %), median and p90 time from ``AT+QLWREG`` to ``"ready","successfully"``.
- ``outage``: one module with factory reconnection settings and lifetime 60 s; the server
  stops right after the registration and comes back on the same port ``--outage`` (60) s
  later: time from its return to the module registered again (documented bound: 60 s when
  the failure is immediate, as on loopback).

    python -m benchmarks.robustness [--what at|datagrams|relay|outage|all] [--lines 1000000]
        [--datagrams 100000] [--settle 247] [--registrations 200] [--outage 60] [--seed 9]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._common import REPO, coap_option, median, percentile, report, rss_bytes
from benchmarks.lwm2m_client import Device as BenchDevice
from benchmarks.lwm2m_client import bench_profile
from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.module.profile import load_profile
from emulator.module.virtual import VirtualModule
from scenario_tool.relay import FaultPolicy, UdpRelay

MB = 1024 * 1024
RSS_TARGET_MB = 10.0
SUCCESS_TARGET = 0.99
SYNC_TIMEOUT = 30.0
SYNC_WAIT = 5.0  # the sync answer normally comes in well under a second
RESYNC_FILLER = 70_000  # bytes: more than any upload or send prompt takes (AT+QFUPL: 65536)
GUARD_TIME = 1.2  # seconds of silence around +++ (V.250 S12, 1 s)
NOT_UTF8_PATH = bytes.fromhex("42010001465ab1ff")


# ----------------------------------------------------------------------------- children
class Child:
    """A ``python -m emulator ...`` child with stdout read line by line, stderr to a file."""

    def __init__(self, *args: str) -> None:
        self.stderr_path = Path(tempfile.mkstemp(prefix="robustness-", suffix=".err")[1])
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            bufsize=0,
        )
        self._buffer = b""

    def line(self, timeout: float = 60.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"no line from {self.proc.args!r}: {self.stderr()[-2000:]}")
            if select.select([self.proc.stdout], [], [], remaining)[0]:
                self._buffer += os.read(self.proc.stdout.fileno(), 65536)
        raw, self._buffer = self._buffer.split(b"\n", 1)
        return raw.decode()

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._stderr.close()
        return code


def serve_tcp() -> tuple[Child, tuple[str, int], str]:
    """``quecemu serve --tcp 127.0.0.1:0``: the child, its AT port, its IMEI."""
    child = Child("serve", "--tcp", "127.0.0.1:0")
    words = child.line().split()
    while child.line() != "ready":
        pass
    host, _, port = words[words.index("tcp") + 1].rpartition(":")
    return child, (host, int(port)), words[4]


class AtSocket:
    """A TCP socket to a module's AT port, read all the time by a thread (a host that stops
    reading gets its output dropped by the port, which would lose the sync answers)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=SYNC_TIMEOUT)
        self.sock.settimeout(None)
        self.buffer = b""
        self.closed = False
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            with self._arrived:
                if chunk:
                    self.buffer += chunk
                else:
                    self.closed = True
                self._arrived.notify_all()
            if not chunk:
                return

    def until(self, marker: bytes, timeout: float = SYNC_TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while marker not in self.buffer:
                remaining = deadline - time.monotonic()
                if self.closed:
                    raise ConnectionError("the module closed its AT port")
                if remaining <= 0:
                    raise TimeoutError(f"no {marker!r} in {timeout} s")
                self._arrived.wait(remaining)
            head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def discard(self) -> None:
        with self._arrived:
            self.buffer = b""

    def command(self, line: str, final: bytes = b"\r\nOK\r\n") -> bytes:
        self.sock.sendall(line.encode() + b"\r")
        return self.until(final)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(5)


# ------------------------------------------------------------------------- AT campaign
_PARAMS = [
    *('"security"', '"server"', '"maxreconntime"', '"epname"', '"startup"', '"urcport"'),
    *("0", "1", "3", "-1", "65536", "4294967296", "99999999999999999999", '""', '"x"'),
    *('"coap://127.0.0.1:9"', '"x\\0D\\0AOK"', '"\\22"', '"a"b"', "1.5", "", "?", ",,"),
    *('"' + "A" * 300 + '"', "0x10", '"\u00e9"', "2", "255", '"IP"', '"UDP"', '"TCP"'),
]
_FORMS = ["", "?", "=?", "=P", "=P;+CSQ", "P"]
#: Lines that end the conversation on purpose (power down; the S-registers that redefine the
#: line terminator and editing characters, V.250 §6.2.1-3); left out of the campaign.
_ENDERS = (b"+QPOWD", b"S3=", b"S4=", b"S5=")


def at_lines(names: list[str], rng: random.Random) -> Iterator[bytes]:
    while True:
        if rng.random() < 0.75:
            params = ",".join(rng.choice(_PARAMS) for _ in range(rng.randrange(0, 7)))
            form = rng.choice(_FORMS).replace("P", params)
            line = f"AT{rng.choice(names)}{form}".encode("utf-8", "replace")
        else:
            line = (b"AT" if rng.random() < 0.5 else b"") + rng.randbytes(rng.randrange(0, 40))
        if not any(ender in line.upper() for ender in _ENDERS):
            yield line


def campaign_at(lines: int, batch: int, seed: int) -> None:
    names = sorted(VirtualModule(load_profile("EC200U"), now=0.0).engine.registry.names())
    child, address, imei = serve_tcp()
    port = AtSocket(address)
    # A sync line the generator cannot produce (it writes one command per line, or one
    # followed by +CSQ), so its answer cannot come from the batch.
    sync = b"\x1b\rATE0V1Q0\rAT+GMI;+GSN\r"
    marker = f"Quectel\r\n\r\n{imei}\r\n\r\nOK\r\n".encode()
    port.command("ATE0")
    rss_start = child.rss()
    rss_peak = rss_start
    generator = at_lines(names, random.Random(seed))
    sent = hangs = resyncs = 0
    started = time.monotonic()
    sync_times: list[float] = []
    try:
        while sent < lines and child.alive:
            chunk = b"".join(next(generator) + b"\r" for _ in range(min(batch, lines - sent)))
            sent += min(batch, lines - sent)
            port.sock.sendall(chunk)
            synced = time.monotonic()
            port.sock.sendall(sync)
            try:
                port.until(marker, timeout=SYNC_WAIT)
            except TimeoutError:
                # A data mode that neither ESC nor the line ends (AT+QFUPL's CONNECT takes
                # <size> bytes or its <timeout>, a transparent socket needs +++) took the sync
                # as data: finish it the ways a host would, then sync again.
                resyncs += 1
                port.sock.sendall(b"\x1a\x1b" + b"A" * RESYNC_FILLER + b"\r")
                time.sleep(GUARD_TIME)
                port.sock.sendall(b"+++")
                time.sleep(GUARD_TIME)
                port.sock.sendall(sync)
                try:
                    port.until(marker)
                except (TimeoutError, ConnectionError) as exc:
                    hangs += 1
                    print(f"  hang after {sent} lines: {exc}", flush=True)
                    break
            except ConnectionError as exc:
                hangs += 1
                print(f"  port closed after {sent} lines: {exc}", flush=True)
                break
            sync_times.append(time.monotonic() - synced)
            if sent % 100_000 < batch:
                rss_peak = max(rss_peak, child.rss())
                print(f"  {sent} lines, RSS {child.rss() / MB:.1f} MB", flush=True)
        elapsed = time.monotonic() - started
        crashed = not child.alive
        rss_end = child.rss() if not crashed else 0
    finally:
        port.close()
        code = child.stop()
    stderr = child.stderr()
    tracebacks = stderr.count("Traceback")
    growth = (rss_end - rss_start) / MB
    report(
        "robustness_at",
        f"{sent} lines in {elapsed:.0f} s: {int(crashed)} crashes, {hangs} hangs, "
        f"{tracebacks} tracebacks, {len(stderr.splitlines())} stderr lines, {resyncs} batches "
        "ended inside a data mode (resynced), RSS "
        f"{rss_start / MB:.1f} -> {rss_end / MB:.1f} MB ({growth:+.1f} MB, peak "
        f"{rss_peak / MB:.1f}), batch sync median {median(sync_times) * 1e3:.1f} ms "
        f"(p99 {percentile(sync_times, 0.99) * 1e3:.1f} ms), exit {code}",
        lines=sent,
        seconds=round(elapsed, 1),
        crashes=int(crashed),
        hangs=hangs,
        resyncs=resyncs,
        tracebacks=tracebacks,
        stderr_lines=len(stderr.splitlines()),
        rss_start_mb=round(rss_start / MB, 1),
        rss_end_mb=round(rss_end / MB, 1),
        rss_growth_mb=round(growth, 1),
        exit_code=code,
    )


# ------------------------------------------------------------------- datagram campaign
def junk(rng: random.Random, *, to_server: bool) -> Iterator[bytes]:
    """The mix of datagrams each side gets."""
    block_mid = 0
    while True:
        kind = rng.randrange(10)
        if kind == 0:
            yield NOT_UTF8_PATH
        elif kind in (1, 2):
            yield rng.randbytes(rng.randrange(0, 64))
        elif kind in (3, 4, 5, 6):
            tkl = rng.choice([0, 1, 2, 4, 8, rng.randrange(16)])
            code = rng.choice([1, 2, 3, 4, 5, 0x41, 0x44, 0x45, 0x84, 0xA0, 0, 0xE1, 0x20])
            header = bytes([0x40 | rng.randrange(4) << 4 | tkl, code])
            header += rng.randbytes(2) + rng.randbytes(min(tkl, 8))
            body, previous = b"", 0
            for number in sorted(rng.choices([3, 4, 6, 11, 12, 14, 15, 17, 23, 27, 60, 2049], k=3)):
                value = rng.choice([b"rd", b"3", b"0", b"\xff\xfe", b"ep=j", rng.randbytes(4)])
                body += coap_option(number - previous, value)
                previous = number
            if rng.random() < 0.5:
                body += b"\xff" + rng.randbytes(rng.randrange(0, 48))
            datagram = header + body
            if rng.random() < 0.2:
                datagram = datagram[: rng.randrange(len(datagram) + 1)]
            yield datagram
        elif kind == 7:  # a Block1 transfer that skips a block (RFC 7959 §2.9.2)
            block_mid = (block_mid + 2) % 0x10000
            path = [b"rd"] if to_server else [b"5", b"0", b"0"]
            for number in (0, 3):
                body, previous = b"", 0
                for segment in path:
                    body += coap_option(11 - previous, segment)
                    previous = 11
                block = bytes([number << 4 | 0x08 | 0])  # more, 16-byte blocks
                body += coap_option(27 - previous, block)
                code = 0x02 if to_server else 0x03  # POST /rd, PUT /5/0/0
                mid = (block_mid + number) % 0x10000
                yield (
                    bytes([0x41, code]) + mid.to_bytes(2, "big") + b"b" + body + b"\xff" + bytes(16)
                )
        else:  # a well-formed request for something that is not there, or a bad Register
            path = rng.choice([[b"rd"], [b"bs"], [b"3", b"0", b"99"], [b"x"], [b"rd", b"zz"]])
            body, previous = b"", 0
            for segment in path:
                body += coap_option(11 - previous, segment)
                previous = 11
            query = rng.choice([b"ep=", b"lt=-1", b"ep=a\x00b", b"b=UU"])
            body += coap_option(15 - previous, query)
            mid = rng.randrange(0x10000)
            yield bytes([0x42, 0x02]) + mid.to_bytes(2, "big") + b"jk" + body + b"\xff<"


async def _module_registered() -> tuple[Child, AtSocket, LwM2MServer, tuple[str, int], str]:
    server = await LwM2MServer.start(coap=("127.0.0.1", 0))
    child, address, imei = serve_tcp()
    port = AtSocket(address)
    port.command("ATE0")
    port.command(f'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:{server.coap_port}",0,3')
    port.sock.sendall(b"AT+QLWREG\r")
    endpoint = f"urn:imei:{imei}"
    registration = await server.wait_registered(endpoint, timeout=30)
    port.until(b'"ready","successfully"')
    host, _, udp_port = registration.address.rpartition(":")
    return child, port, server, (host, int(udp_port)), endpoint


def _register_raw(port: int) -> bool:
    """A well-formed Register to the server child: is it created?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        options = coap_option(11, b"rd") + coap_option(1, b"\x28")  # Uri-Path, Content-Format
        options += coap_option(3, b"ep=after-junk")  # Uri-Query
        sock.sendto(
            bytes([0x42, 0x02, 0x12, 0x34]) + b"ok" + options + b"\xff</1/0>,</3/0>",
            ("127.0.0.1", port),
        )
        while True:
            data = sock.recv(4096)
            if data[2:4] == b"\x12\x34":
                return data[1] == 0x41  # 2.01 Created


async def campaign_datagrams(count: int, settle: float, seed: int, rate: float) -> None:
    server_child = Child("server", "--coap", "127.0.0.1:0")
    server_port = int(server_child.line().rsplit(":", 1)[1])
    module_child, at_port, server, module_address, endpoint = await _module_registered()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2.0)  # both settled after start-up
    rss_before = {"module": module_child.rss(), "server": server_child.rss()}
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    to_module = junk(random.Random(seed), to_server=False)
    to_server = junk(random.Random(seed + 1), to_server=True)
    started = loop.time()
    for index in range(count):
        with contextlib.suppress(BlockingIOError):
            sender.sendto(next(to_module), module_address)
            sender.sendto(next(to_server), ("127.0.0.1", server_port))
        if index % 100 == 99:
            # paced so the kernel does not drop them before the processes read them
            await asyncio.sleep(max(0.0, started + (index + 1) / rate - loop.time()))
            with contextlib.suppress(BlockingIOError):
                while sender.recv(4096):  # the Resets and answers that come back
                    pass
    sent_seconds = loop.time() - started
    sender.close()
    await asyncio.sleep(2.0)
    rss_after = {"module": module_child.rss(), "server": server_child.rss()}
    print(
        f"  sent {count} datagrams to each side in {sent_seconds:.0f} s; settling {settle:.0f} s",
        flush=True,
    )
    await asyncio.sleep(settle)
    rss_settled = {"module": module_child.rss(), "server": server_child.rss()}
    # Still working: the module answers AT and is registered; the server reads from it; the
    # server child takes a Register.
    found = re.search(rb"\+QLWSTAT: (\d+)", at_port.command("AT+QLWSTAT?"))
    stat = found.group(1).decode() if found else "none"
    read = await server.read(endpoint, "/3/0/0", timeout=20)
    server_ok = await loop.run_in_executor(None, _register_raw, server_port)
    at_port.close()
    alive = {"module": module_child.alive, "server": server_child.alive}
    await server.stop()
    for name, child in (("module", module_child), ("server", server_child)):
        child.stop()
        stderr = child.stderr()
        growth = (rss_settled[name] - rss_before[name]) / MB
        report(
            f"robustness_datagrams_{name}",
            f"{count} junk datagrams in {sent_seconds:.0f} s: {int(not alive[name])} crashes, "
            f"{stderr.count('Traceback')} tracebacks, {len(stderr.splitlines())} stderr lines; "
            f"RSS {rss_before[name] / MB:.1f} -> {rss_after[name] / MB:.1f} MB right after, "
            f"{rss_settled[name] / MB:.1f} MB after {settle:.0f} s ({growth:+.1f} MB; "
            f"target within {RSS_TARGET_MB:.0f} MB)",
            datagrams=count,
            crashes=int(not alive[name]),
            tracebacks=stderr.count("Traceback"),
            stderr_lines=len(stderr.splitlines()),
            rss_before_mb=round(rss_before[name] / MB, 1),
            rss_after_mb=round(rss_after[name] / MB, 1),
            rss_settled_mb=round(rss_settled[name] / MB, 1),
            rss_growth_mb=round(growth, 1),
            settle_seconds=settle,
        )
    report(
        "robustness_datagrams_alive",
        f"afterwards: module AT+QLWSTAT? {stat} (2 = registered), server Read of /3/0/0 "
        f"{read!r}, server child Register {'created' if server_ok else 'FAILED'}",
        module_stat=stat,
        server_register_ok=server_ok,
    )


# ------------------------------------------------------------------ in-process modules
class Device(BenchDevice):
    """benchmarks.lwm2m_client's module on this loop, pointed at a server (factory CoAP
    timing and reconnection), registering with a deadline instead of failing at once."""

    async def configure(self, server: tuple[str, int], lifetime: int = 86400) -> Device:
        await self.start()
        await self.at(f'AT+QLWCFG="security",1,1000,"coap://{server[0]}:{server[1]}",0,3')
        if lifetime != 86400:
            await self.at(f'AT+QLWCFG="server",1,{lifetime},1,60,86400,1,"U"')
        return self

    async def register_within(self, deadline: float) -> float | None:
        """Seconds from AT+QLWREG to "ready","successfully" (None if not by ``deadline``)."""
        mark = len(self.output)
        started = time.monotonic()
        self.host.feed(b"AT+QLWREG\r")
        try:
            await self.until(b'"ready","successfully"', mark, timeout=deadline)
        except TimeoutError:
            return None
        return time.monotonic() - started


async def campaign_relay(
    registrations: int, wave: int, drop: float, deadline: float, seed: int
) -> None:
    """All registrations at once, ``wave`` modules per relay (a relay keeps one upstream
    socket per client, at most 64); each relay drops with its own seeded generator."""
    server = await LwM2MServer.start(coap=("127.0.0.1", 0))
    profile = bench_profile()
    relays: list[UdpRelay] = []
    devices: list[Device] = []
    started = time.monotonic()
    try:
        for number, first in enumerate(range(0, registrations, wave)):
            policy = FaultPolicy()
            policy.set_drop(drop, "both", seed=seed + number)
            relay = UdpRelay(("127.0.0.1", server.coap_port), policy=policy)
            await relay.start()
            relays.append(relay)
            for index in range(first, min(first + wave, registrations)):
                devices.append(await Device(profile, index).configure(relay.address))
        results = await asyncio.gather(*(d.register_within(deadline) for d in devices))
    finally:
        await asyncio.gather(*(d.host.stop() for d in devices), return_exceptions=True)
        for relay in relays:
            await relay.close()
        await server.stop()
    times = [r for r in results if r is not None]
    total = len(results)
    share = len(times) / total
    dropped_up = sum(r.policy.stats["uplink"].dropped for r in relays)
    dropped_down = sum(r.policy.stats["downlink"].dropped for r in relays)
    forwarded = sum(r.policy.stats[d].forwarded for r in relays for d in ("uplink", "downlink"))
    report(
        "robustness_relay",
        f"{len(times)}/{total} registered within {deadline:.0f} s ({share:.1%}; target >= "
        f"{SUCCESS_TARGET:.0%}) through {drop:.0%} loss each way: time to ready median "
        f"{median(times):.2f} s, p90 {percentile(times, 0.9):.2f} s, max {max(times):.2f} s; "
        f"relays dropped {dropped_up} up / {dropped_down} down, forwarded {forwarded}; wall "
        f"{time.monotonic() - started:.0f} s",
        registrations=total,
        succeeded=len(times),
        success_share=round(share, 4),
        median_s=round(median(times), 3),
        p90_s=round(percentile(times, 0.9), 3),
        max_s=round(max(times), 3),
        drop=drop,
    )


async def campaign_outage(outage: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await LwM2MServer.start(coap=("127.0.0.1", port))
    device = await Device(bench_profile(), 0).configure(("127.0.0.1", port), lifetime=60)
    assert await device.register_within(30) is not None
    down = time.monotonic()
    await server.stop()
    mark = len(device.output)
    await asyncio.sleep(outage)
    server = await LwM2MServer.start(coap=("127.0.0.1", port))
    back = time.monotonic()
    try:
        await device.until(b'"ready","successfully"', mark, timeout=600)
        ready = time.monotonic()
        urcs = re.findall(rb"\+QLWURC: [^\r]*", bytes(device.output[mark:]))
    finally:
        await device.host.stop()
        await server.stop()
    report(
        "robustness_outage",
        f"server down {outage:.0f} s (lifetime 60 s, factory back-off): registered again "
        f"{ready - back:.1f} s after it came back ({ready - down:.1f} s after it went); "
        f"URCs: {b' | '.join(urcs).decode()}",
        outage_s=outage,
        recovery_after_back_s=round(ready - back, 1),
        recovery_after_down_s=round(ready - down, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--what", choices=("at", "datagrams", "relay", "outage", "all"), default="all"
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--datagrams", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=4000.0, help="datagrams/s to each side")
    parser.add_argument(
        "--settle",
        type=float,
        default=247.0,
        help="seconds after the junk before RSS is read (EXCHANGE_LIFETIME)",
    )
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--wave", type=int, default=50)
    parser.add_argument("--drop", type=float, default=0.3)
    parser.add_argument("--deadline", type=float, default=300.0)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    if args.what in ("at", "all"):
        campaign_at(args.lines, args.batch, args.seed)
    if args.what in ("datagrams", "all"):
        asyncio.run(campaign_datagrams(args.datagrams, args.settle, args.seed, args.rate))
    if args.what in ("relay", "all"):
        asyncio.run(
            campaign_relay(args.registrations, args.wave, args.drop, args.deadline, args.seed)
        )
    if args.what in ("outage", "all"):
        asyncio.run(campaign_outage(args.outage))


if __name__ == "__main__":
    main()
