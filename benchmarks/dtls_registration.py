"""DTLS-PSK registration against the embedded LwM2M server, next to plain CoAP.

- ``latency``: each round boots a fresh module (its own sockets, a new DTLS session), sends
  ``AT+QLWREG`` through the AT engine and stops the clock at the ``"ready"`` URC. Plain CoAP
  and DTLS-PSK rounds alternate in the same run, so both see the same machine load; median,
  p99 and their ratio are reported. The server (``emulator.adapters.lwm2m_server``, Mbed TLS
  DTLS) runs in the same process and event loop as the modules.
- ``crowd``: N modules (default 200) booted and configured for DTLS-PSK, then ``AT+QLWREG``
  on all of them at once: the time until every one printed ``"ready","successfully"``, and
  how many the server holds sessions and registrations for.

    python -m benchmarks.dtls_registration [--what latency|crowd|all] [--rounds 100]
        [--modules 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks._common import median, percentile, report
from benchmarks.lwm2m_client import Device, bench_profile
from emulator.adapters.lwm2m_server import LwM2MServer

KEY = bytes(range(16))


async def configure(device: Device, server: LwM2MServer, *, dtls: bool) -> None:
    if dtls:
        server.set_psk(device.endpoint, device.endpoint, KEY)
        line = (
            f'AT+QLWCFG="security",1,1000,"{server.uri("coaps")}",0,0,'
            f'"{device.endpoint}","{KEY.hex()}"'
        )
    else:
        line = f'AT+QLWCFG="security",1,1000,"{server.uri("coap")}",0,3'
    await device.at(line)
    await device.at('AT+QLWCFG="server",1,3600,1,60,86400,0,"U"')


async def bench_latency(rounds: int) -> None:
    profile = bench_profile()
    server = await LwM2MServer.start(coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0))
    samples: dict[bool, list[float]] = {False: [], True: []}
    try:
        for index in range(rounds):
            for dtls in (False, True):
                device = await Device(profile, 2 * index + dtls).start()
                try:
                    await configure(device, server, dtls=dtls)
                    samples[dtls].append(await device.register() * 1000)
                finally:
                    await device.stop()
    finally:
        await server.stop()
    plain, dtls_ms = samples[False], samples[True]
    for kind, values in (("plain", plain), ("dtls", dtls_ms)):
        report(
            f"dtls_registration_{kind}",
            f"AT+QLWREG -> ready ({kind}, embedded server): median {median(values):.2f} ms, "
            f"p99 {percentile(values, 0.99):.2f} ms, max {max(values):.2f} ms over {rounds}",
            median_ms=round(median(values), 3),
            p99_ms=round(percentile(values, 0.99), 3),
            max_ms=round(max(values), 3),
            rounds=rounds,
        )
    report(
        "dtls_registration_ratio",
        f"DTLS / plain: median x{median(dtls_ms) / median(plain):.2f}, "
        f"p99 x{percentile(dtls_ms, 0.99) / percentile(plain, 0.99):.2f}",
        median_ratio=round(median(dtls_ms) / median(plain), 3),
        p99_ratio=round(percentile(dtls_ms, 0.99) / percentile(plain, 0.99), 3),
    )


async def register(device: Device, timeout: float) -> float:
    """Seconds from AT+QLWREG to the ready URC (``RuntimeError`` if it says failed)."""
    mark = len(device.output)
    started = time.perf_counter()
    device.host.feed(b"AT+QLWREG\r")
    await device.until(b'"ready"', mark, timeout=timeout)
    elapsed = time.perf_counter() - started
    if b'"ready","successfully"' not in device.output[mark:]:
        raise RuntimeError(bytes(device.output[mark:]).decode(errors="replace"))
    return elapsed


async def bench_crowd(count: int) -> None:
    profile = bench_profile()
    server = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", 0), request_timeout=30.0)
    devices: list[Device] = []
    try:
        for index in range(count):
            device = await Device(profile, 100_000 + index).start()
            await configure(device, server, dtls=True)
            devices.append(device)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(register(device, timeout=120) for device in devices), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            print(f"first failure: {failed[0]!r}")
        latencies = sorted(r * 1000 for r in results if isinstance(r, float))
        registered = len(server.registrations())
        report(
            "dtls_registration_crowd",
            f"{count} modules AT+QLWREG over DTLS-PSK at once: all ready after "
            f"{elapsed:.2f} s (per module median {median(latencies):.0f} ms, "
            f"p99 {percentile(latencies, 0.99):.0f} ms); {registered} registered, "
            f"{len(failed)} failed",
            modules=count,
            all_ready_s=round(elapsed, 3),
            median_ms=round(median(latencies), 1),
            p99_ms=round(percentile(latencies, 0.99), 1),
            registered=registered,
            failed=len(failed),
        )
    finally:
        for device in devices:
            await device.stop()
        await server.stop()


async def main(what: str, rounds: int, modules: int) -> None:
    if what in ("latency", "all"):
        await bench_latency(rounds)
    if what in ("crowd", "all"):
        await bench_crowd(modules)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", choices=("latency", "crowd", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--modules", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.what, args.rounds, args.modules))
