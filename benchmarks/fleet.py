"""A fleet in one process: N headless modules of ``quecemu serve`` register with ``quecemu server``.

Targets (issue 14), on a 2-core machine, N = 10,000:

- registration storm >= 2,000 registrations/s end to end;
- event-loop lag of the serve process p99 <= 50 ms while the registered modules idle with
  their Updates;
- a server Read of one module's /3/0 p99 <= 20 ms under that load;
- memory <= 64 KiB per registered module; idle CPU of the serve process <= 5 % of a core;
- at most two file descriptors per registered module.

Both sides run as child processes, as a user runs them: ``quecemu server --coap 127.0.0.1:0
--http 127.0.0.1:0`` and ``quecemu serve --headless --count N --state-dir DIR --control``.
The state directory holds one provisioned state file per module (written here: a server
account, ``"startup",1`` and the Update lifetime), so every module registers as it boots:
the storm is the whole fleet powering on at once. This process times each ``registered``
line the server prints; the storm rate is N over the time from the first to the last
registration (a module that did not register in time is counted and reported, never
waited on silently). Then, with every module registered:

- ``idle``: CPU time of the serve process over ``--idle-seconds`` (long enough, by default,
  for every module to send its Update once: lifetime minus the profile's 10 s margin), and
  the serve process's own event-loop lag over the same window (``stats`` on its control
  channel: a 20 ms sampling timer, percentiles of how late it fired);
- ``read``: ``GET /api/clients/<ep>/3/0`` on the server's REST API (HTTP → CoAP Read →
  TLV → JSON) for one module, ``--reads`` times one after another, with the whole fleet
  still registered and updating; the lag of the serve process over that window too;
- ``memory``: RSS of the serve process with N modules registered minus RSS of a one-module
  run (interpreter and imports), over N - 1; and RSS / N as it stands;
- ``fds``: open descriptors of the serve process over N.

    python -m benchmarks.fleet [--modules 10000] [--lifetime 120] [--idle-seconds 115]
        [--reads 500] [--dtls]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks._common import REPO, cpu_seconds, median, percentile, report, rss_bytes
from emulator.app.fleet import startup_state
from emulator.app.serve import module_imeis
from emulator.module.profile import load_profile

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
READY_TIMEOUT = 600.0  # seconds for serve to build and boot the fleet
PSK_KEY = bytes(range(16))
STORM_TARGET_PER_S = 2000.0
LAG_TARGET_MS = 50.0
READ_TARGET_MS = 20.0
MEMORY_TARGET_BYTES = 64 * 1024
CPU_TARGET = 0.05


async def spawn(*args: str, stdin: bool = False) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", *args, cwd=REPO,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=None, limit=1 << 20,
    )  # fmt: skip


async def read_line(process: asyncio.subprocess.Process, timeout: float) -> str:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), timeout)
    if not raw:
        raise RuntimeError(f"process {process.pid} ended (exit {await process.wait()})")
    return raw.decode().rstrip("\n")


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 120)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class ServerWatch:
    """The server's event lines, timed as they arrive."""

    process: asyncio.subprocess.Process
    registered: dict[str, float] = field(default_factory=dict)
    serve_pid: int | None = None
    cpu_at_first: float | None = None  # CPU seconds of serve at the first registration
    server_cpu_at_first: float | None = None  # CPU seconds of the server at that moment
    drops_at_first: int | None = None  # UDP receive-buffer drops on the machine by then
    updates: int = 0
    other: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        # Read in chunks and time each chunk's lines together: a reader that takes one line
        # at a time (and wakes the waiting loop for each) falls behind a storm, and the
        # server then waits on its full stdout pipe; the rate measured would be ours.
        assert self.process.stdout is not None
        pending = b""
        while chunk := await self.process.stdout.read(1 << 20):
            now = time.monotonic()
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                self._line(raw, now)
            self.changed.set()

    def _line(self, raw: bytes, now: float) -> None:
        words = raw.split(maxsplit=2)
        if not words:
            return
        kind = words[0].decode()
        if kind == "registered":
            if not self.registered and self.serve_pid is not None:
                with contextlib.suppress(OSError):
                    self.cpu_at_first = cpu_seconds(self.serve_pid)
                    self.server_cpu_at_first = cpu_seconds(self.process.pid)
                    self.drops_at_first = udp_receive_drops()
            self.registered.setdefault(words[1].decode(), now)
        elif kind == "updated":
            self.updates += 1
        else:
            self.other[kind] = self.other.get(kind, 0) + 1


class Serve:
    """``quecemu serve`` with its control channel."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            await self.lines.put(raw.decode().rstrip("\n"))

    async def wait_ready(self) -> None:
        async with asyncio.timeout(READY_TIMEOUT):
            while (line := await self.lines.get()) != "ready":
                if not line.startswith("module "):
                    print(f"serve: {line}")

    async def stats(self) -> dict[str, str]:
        """The answer to a ``stats`` control line (key=value words)."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(30):
            while not (line := await self.lines.get()).startswith("stats "):
                pass
        return dict(word.split("=", 1) for word in line.split()[1:] if "=" in word)

    async def close(self) -> None:
        await stop(self.process)
        self._reader.cancel()


async def start_server(psk_file: Path | None) -> tuple[asyncio.subprocess.Process, str, str]:
    """``quecemu server`` on free ports (DTLS too with a PSK file); its URI and REST base."""
    args = ["server", "--coap", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    if psk_file is not None:
        args += ["--coaps", "127.0.0.1:0", "--psk-file", str(psk_file)]
    process = await spawn(*args)
    widen_pipe(process)
    uris: dict[str, str] = {}
    while (line := await read_line(process, 60)) != "ready":
        words = line.split()
        if words[:1] == ["listening"]:
            uris[words[1]] = words[2]
    return process, uris["coap" if psk_file is None else "coaps"], uris["http"]


def widen_pipe(process: asyncio.subprocess.Process) -> None:
    """Give the child's stdout pipe 1 MiB (Linux: F_SETPIPE_SZ, up to fs.pipe-max-size) so
    a burst of event lines waits there, not in a server blocked on a 64 KiB pipe."""
    transport = getattr(process, "_transport", None)
    pipe = transport.get_pipe_transport(1) if transport is not None else None
    handle = pipe.get_extra_info("pipe") if pipe is not None else None
    if handle is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(handle.fileno(), F_SETPIPE_SZ, 1 << 20)


def write_psk_file(path: Path, imeis: list[str]) -> Path:
    path.write_text(
        "".join(f"urn:imei:{i}=urn:imei:{i}:{PSK_KEY.hex()}\n" for i in imeis), encoding="utf-8"
    )
    os.chmod(path, 0o600)
    return path


def write_states(directory: Path, imeis: list[str], uri: str, lifetime: int, *, dtls: bool) -> None:
    for imei in imeis:
        data = startup_state(uri, imei=imei, lifetime=lifetime, psk_key=PSK_KEY if dtls else None)
        (directory / f"{imei}.json").write_text(json.dumps(data), encoding="utf-8")


def udp_receive_drops() -> int:
    """Datagrams Linux dropped for a full socket receive buffer, machine-wide so far
    (/proc/net/snmp Udp RcvbufErrors): a dropped Register costs its module a CoAP
    retransmission 2-3 s later (RFC 7252 §4.2), the tail of a storm."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as f:
            rows = [line.split() for line in f if line.startswith("Udp:")]
        return int(dict(zip(rows[0], rows[1], strict=True))["RcvbufErrors"])
    except (OSError, IndexError, KeyError, ValueError):
        return -1


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def baseline_rss() -> int:
    """RSS of a one-module headless serve: the interpreter, the imports, one module."""
    serve = Serve(await spawn("serve", "--headless", "--count", "1", "--control", stdin=True))
    try:
        await serve.wait_ready()
        await serve.stats()
        return rss_bytes(serve.process.pid)
    finally:
        await serve.close()


def lag_numbers(stats: dict[str, str]) -> tuple[float, float, float]:
    return (
        float(stats.get("lag_p50_ms", "nan")),
        float(stats.get("lag_p99_ms", "nan")),
        float(stats.get("lag_max_ms", "nan")),
    )


async def measure_reads(http: str, endpoint: str, reads: int) -> tuple[list[float], int]:
    samples: list[float] = []
    errors = 0
    first_error = ""
    url = f"{http}/api/clients/{endpoint}/3/0"
    async with aiohttp.ClientSession() as session:
        for _ in range(reads):
            started = time.perf_counter()
            async with session.get(url) as response:
                body = await response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200 or b'"success":true' not in body.replace(b" ", b""):
                errors += 1
                if not first_error:
                    first_error = f"HTTP {response.status} {body[:200]!r}"
                    print(f"fleet_read: first failed read: {first_error}")
                continue
            samples.append(elapsed * 1000)
    return samples, errors


async def run(args: argparse.Namespace) -> None:
    count = args.modules
    profile = load_profile("EC200U")
    imeis = module_imeis(profile.identity.imei, count)
    lifetime = args.lifetime
    idle_seconds = args.idle_seconds if args.idle_seconds is not None else lifetime - 5
    with tempfile.TemporaryDirectory(prefix="quecemu-fleet-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir(mode=0o700)
        psk_file = write_psk_file(Path(tmp) / "psk.txt", imeis) if args.dtls else None
        server, uri, http = await start_server(psk_file)
        watch = ServerWatch(server)
        watcher = asyncio.ensure_future(watch.run())
        write_states(state, imeis, uri, lifetime, dtls=args.dtls)
        base_rss = await baseline_rss()
        serve_args = ["serve", "--headless", "--count", str(count), "--state-dir", str(state)]
        spawned = time.monotonic()
        serve = Serve(await spawn(*serve_args, "--control", stdin=True))
        watch.serve_pid = serve.process.pid
        try:
            await serve.wait_ready()
            ready = time.monotonic()
            deadline = ready + args.storm_timeout
            while len(watch.registered) < count and time.monotonic() < deadline:
                watch.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.changed.wait(), 1.0)
            times = sorted(watch.registered.values())
            cpu_storm = cpu_seconds(serve.process.pid) - (watch.cpu_at_first or 0.0)
            done = len(times)
            missing = count - done
            stats = await serve.stats()
            storm = (done - 1) / (times[-1] - times[0]) if done > 1 else 0.0
            # The machine may be shared: serve's own CPU time per registration over the storm
            # says what one core of it sustains whatever else runs.
            per_core = done / cpu_storm if cpu_storm > 0 else 0.0
            server_cpu = cpu_seconds(server.pid)
            # The same for the server, whose one loop is the storm's bottleneck.
            server_storm = server_cpu - (watch.server_cpu_at_first or 0.0)
            server_per_core = done / server_storm if server_storm > 0 else 0.0
            drops = udp_receive_drops() - (watch.drops_at_first or 0)
            report(
                "fleet_storm",
                f"{done} of {count} modules registered, {storm:.0f} registrations/s from the "
                f"first to the last (target >= {STORM_TARGET_PER_S:.0f}); serve used "
                f"{cpu_storm:.2f} s of CPU meanwhile ({per_core:.0f} registrations per CPU "
                f"second), the server {server_storm:.2f} s ({server_per_core:.0f} per CPU "
                f"second); serve ready {ready - spawned:.1f} s after start, last registration "
                f"{times[-1] - spawned:.1f} s after start; {missing} missing; serve counts "
                f"failed={stats.get('failed')}; {drops} UDP datagrams dropped on the machine "
                "for full receive buffers meanwhile",
                modules=count,
                registered=done,
                missing=missing,
                registrations_per_s=round(storm, 1),
                registrations_per_cpu_second=round(per_core, 1),
                server_cpu_seconds_so_far=round(server_cpu, 2),
                server_storm_cpu_seconds=round(server_storm, 2),
                server_registrations_per_cpu_second=round(server_per_core, 1),
                udp_receive_drops=drops,
                load_average=os.getloadavg()[0],
                ready_seconds=round(ready - spawned, 3),
                all_registered_seconds=round(times[-1] - spawned, 3) if times else None,
                serve_stats=stats,
                dtls=args.dtls,
            )
            if missing:
                print(f"fleet: {missing} modules never registered: see serve's stderr above")
            pid = serve.process.pid
            rss = rss_bytes(pid)
            fds = fd_count(pid)
            per_module = (rss - base_rss) / max(1, count - 1)
            report(
                "fleet_memory",
                f"RSS {rss / 2**20:.0f} MiB with {done} registered; {per_module / 1024:.1f} KiB "
                f"per module over a one-module run ({base_rss / 2**20:.0f} MiB), "
                f"{rss / count / 1024:.1f} KiB per module overall "
                f"(target <= {MEMORY_TARGET_BYTES // 1024} KiB); {fds} descriptors, "
                f"{fds / count:.2f} per module",
                rss_bytes=rss,
                baseline_rss_bytes=base_rss,
                rss_per_module_bytes=round(per_module),
                rss_over_count_bytes=round(rss / count),
                fds=fds,
                fds_per_module=round(fds / count, 3),
            )
            # Idle with the Updates: CPU and loop lag over one lifetime's worth of Updates.
            updates_before = watch.updates
            await serve.stats()  # starts a fresh lag window
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(idle_seconds)
            cpu_used = cpu_seconds(pid) - cpu0
            cpu = cpu_used / (time.monotonic() - wall0)
            updates = watch.updates - updates_before
            # CPU per Update does not depend on the lifetime or the machine's other load.
            per_update_us = cpu_used / updates * 1e6 if updates else 0.0
            idle_stats = await serve.stats()
            lag50, lag99, lagmax = lag_numbers(idle_stats)
            server_idle = (cpu_seconds(server.pid) - server_cpu) / (time.monotonic() - wall0)
            report(
                "fleet_idle",
                f"{count} registered modules idle for {idle_seconds:.0f} s with "
                f"{updates} Updates (lifetime {lifetime} s): CPU {cpu * 100:.2f} % of a core "
                f"(target <= {CPU_TARGET * 100:.0f} %), {per_update_us:.0f} us per Update; "
                f"loop lag median {lag50:.2f} ms, p99 {lag99:.2f} ms, max {lagmax:.2f} ms "
                f"(target p99 <= {LAG_TARGET_MS:.0f} ms)",
                cpu_fraction=round(cpu, 5),
                updates=updates,
                cpu_per_update_us=round(per_update_us, 1),
                lag_median_ms=lag50,
                lag_p99_ms=lag99,
                lag_max_ms=lagmax,
                seconds=idle_seconds,
                server_cpu_fraction=round(server_idle, 4),
                server_lines=dict(watch.other),
                serve_stats=idle_stats,
            )
            print(
                f"fleet_idle: the server used {server_idle * 100:.1f} % of a core; it printed "
                f"{dict(watch.other)} besides registrations and Updates; serve counts "
                f"registered={idle_stats.get('registered')} "
                f"registering={idle_stats.get('registering')} failed={idle_stats.get('failed')}; "
                f"longest collector pauses gen0/1/2 {idle_stats.get('gc0_max_ms')}/"
                f"{idle_stats.get('gc1_max_ms')}/{idle_stats.get('gc2_max_ms')} ms"
            )
            endpoint = f"urn:imei:{imeis[count // 2]}"
            samples, errors = await measure_reads(http, endpoint, args.reads)
            lag50, lag99, lagmax = lag_numbers(await serve.stats())
            if samples:
                report(
                    "fleet_read",
                    f"server Read of {endpoint} /3/0 over REST with {count} registered: median "
                    f"{median(samples):.2f} ms, p99 {percentile(samples, 0.99):.2f} ms "
                    f"(target p99 <= {READ_TARGET_MS:.0f} ms), {errors} errors; serve loop lag "
                    f"meanwhile p99 {lag99:.2f} ms",
                    median_ms=round(median(samples), 3),
                    p99_ms=round(percentile(samples, 0.99), 3),
                    max_ms=round(max(samples), 3),
                    reads=len(samples),
                    errors=errors,
                    lag_p99_ms=lag99,
                )
            else:
                print(f"fleet_read: every one of {args.reads} reads failed")
        finally:
            await serve.close()
            await stop(server)
            watcher.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=10000)
    parser.add_argument("--lifetime", type=int, default=120, help="Update lifetime, seconds")
    parser.add_argument(
        "--idle-seconds", type=float, default=None, help="idle window (default: lifetime - 5)"
    )
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--storm-timeout", type=float, default=300.0)
    parser.add_argument("--dtls", action="store_true", help="register over DTLS-PSK")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
