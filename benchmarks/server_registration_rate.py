"""How many LwM2M registrations per second the embedded server sustains.

The server (``emulator.adapters.lwm2m_server.LwM2MServer``, plain CoAP on loopback) runs in
this process; a load generator runs in a child process so it does not share the server's event
loop. The
generator sends confirmable ``POST /rd?ep=bench-N&lt=300&lwm2m=1.0&b=U`` requests (each a new
endpoint, link-format payload) from a few UDP sockets, keeping ``--concurrency`` registrations
in flight, and times each one from send to its 2.01 Created.

    .venv/bin/python -m benchmarks.server_registration_rate --registrations 3000
    .venv/bin/python -m benchmarks.server_registration_rate --registrations 500 --dtls 50

``--dtls N`` additionally registers N clients over DTLS-PSK, each with its own aiocoap client
context (one handshake + Register each), N at once.

Prints registrations/s, median and p99 latency, what the server itself counted, and the
server's CPU time per registration (this process's CPU time over the run: on a shared machine
the rate is noise, the CPU per registration is not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import coap_option

OBJECTS = b"</1/0>,</3/0>,</4/0>"


def _datagram(index: int, mid: int, token: bytes) -> bytes:
    """A confirmable Register, encoded by hand (RFC 7252 §3) to keep the generator cheap."""
    header = bytes([0x40 | len(token), 0x02]) + mid.to_bytes(2, "big") + token
    options = coap_option(11, b"rd")  # Uri-Path
    options += coap_option(1, bytes([40]))  # Content-Format 12: link-format
    query = (f"ep=bench-{index}", "lt=300", "lwm2m=1.0", "b=U")
    delta = 15 - 12  # Uri-Query is option 15
    for item in query:
        options += coap_option(delta, item.encode())
        delta = 0
    return header + options + b"\xff" + OBJECTS


def generate(port: int, registrations: int, concurrency: int, sockets: int) -> dict[str, Any]:
    """Child process: send the registrations, return the timings."""
    selector = selectors.DefaultSelector()
    socks = []
    for _ in range(sockets):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        socks.append(sock)
    packets = [_datagram(i, i & 0xFFFF, i.to_bytes(4, "big")) for i in range(registrations)]
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []
    refused = 0
    next_index = 0

    def send_next() -> None:
        nonlocal next_index
        index = next_index
        next_index += 1
        sent_at[index.to_bytes(4, "big")] = time.perf_counter()
        socks[index % sockets].sendto(packets[index], ("127.0.0.1", port))

    start = time.perf_counter()
    deadline = start + 60.0
    for _ in range(min(concurrency, registrations)):
        send_next()
    while sent_at and time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=1.0):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            while True:
                try:
                    data = ready.recv(2048)
                except BlockingIOError:
                    break
                token = data[4 : 4 + (data[0] & 0x0F)]
                began = sent_at.pop(token, None)
                if began is None:
                    continue  # a duplicate answer
                latencies.append(time.perf_counter() - began)
                if data[1] != 0x41:  # 2.01 Created
                    refused += 1
                if next_index < registrations:
                    send_next()
    elapsed = time.perf_counter() - start
    for sock in socks:
        sock.close()
    return {
        "answered": len(latencies),
        "refused": refused,
        "lost": len(sent_at),
        "elapsed": elapsed,
        "latencies": latencies,
    }


async def dtls_round(port: int, clients: int) -> dict[str, Any]:
    """N aiocoap client contexts register over DTLS-PSK at once (handshake + Register)."""
    from aiocoap import Code, Context, Message

    async def one(index: int) -> float:
        context = await Context.create_client_context()
        context.client_credentials.load_from_dict(
            {
                f"coaps://127.0.0.1:{port}/*": {
                    "dtls": {"psk": b"bench-key", "client-identity": f"id-{index}".encode()}
                }
            }
        )
        began = time.perf_counter()
        try:
            request = Message(
                code=Code.POST,
                uri=f"coaps://127.0.0.1:{port}/rd?ep=dtls-{index}&lt=300",
                payload=OBJECTS,
            )
            request.opt.content_format = 40
            response = await asyncio.wait_for(context.request(request).response, 30)
            assert response.code == Code.CREATED, response
            return time.perf_counter() - began
        finally:
            await context.shutdown()

    start = time.perf_counter()
    latencies = await asyncio.gather(*(one(i) for i in range(clients)))
    return {"elapsed": time.perf_counter() - start, "latencies": list(latencies)}


def summary(name: str, count: int, elapsed: float, latencies: list[float], **extra: Any) -> str:
    """The human line and the JSON line (the benchmarks' convention, benchmarks/README.md)."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    median = statistics.median(ordered) if ordered else float("nan")
    human = (
        f"{name}: {count} registrations in {elapsed:.2f} s = {count / elapsed:.0f}/s; "
        f"latency median {median * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
    )
    record = {
        "benchmark": "server_registration_rate",
        "registrations": count,
        "seconds": round(elapsed, 3),
        "per_second": round(count / elapsed, 1),
        "median_ms": round(median * 1000, 3),
        "p99_ms": round(p99 * 1000, 3),
        **extra,
    }
    return human + "\n" + json.dumps(record)


async def run(args: argparse.Namespace) -> None:
    from emulator.adapters.lwm2m_server import LwM2MServer

    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0) if args.dtls else None
    )
    try:
        command = [
            sys.executable, "-m", "benchmarks.server_registration_rate",
            "--generate", str(server.coap_port),
            "--registrations", str(args.registrations), "--concurrency", str(args.concurrency),
            "--sockets", str(args.sockets),
        ]  # fmt: skip
        # As a module from the repository root, so the child shares benchmarks._common.
        root = Path(__file__).resolve().parent.parent
        cpu_before = time.process_time()  # this process only: the server, not the generator
        process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, cwd=root)
        output, _ = await process.communicate()
        server_cpu = time.process_time() - cpu_before
        result = json.loads(output)
        print(
            summary(
                f"UDP, {args.concurrency} in flight from {args.sockets} sockets",
                result["answered"],
                result["elapsed"],
                result["latencies"],
                transport="udp",
                concurrency=args.concurrency,
                sockets=args.sockets,
                refused=result["refused"],
                lost=result["lost"],
                server_cpu_ms_per_registration=round(
                    server_cpu * 1000 / max(1, result["answered"]), 4
                ),
            )
        )
        print(
            f"  refused {result['refused']}, lost {result['lost']}, "
            f"server holds {len(server.registrations())} registrations; server CPU "
            f"{server_cpu:.2f} s = {server_cpu * 1e6 / max(1, result['answered']):.0f} us "
            "per registration (the load-independent figure)"
        )
        if args.dtls:
            for index in range(args.dtls):
                server.set_psk(f"dtls-{index}", f"id-{index}", b"bench-key")
            dtls = await dtls_round(server.coaps_port, args.dtls)
            print(
                summary(
                    f"DTLS-PSK, {args.dtls} aiocoap contexts at once (handshake + Register)",
                    args.dtls,
                    dtls["elapsed"],
                    dtls["latencies"],
                    transport="dtls-psk",
                    concurrency=args.dtls,
                )
            )
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100, help="registrations in flight")
    parser.add_argument("--sockets", type=int, default=4, help="client UDP sockets")
    parser.add_argument("--dtls", type=int, default=0, metavar="N", help="also N DTLS clients")
    parser.add_argument("--generate", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        result = generate(args.generate, args.registrations, args.concurrency, args.sockets)
        json.dump(result, sys.stdout)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
