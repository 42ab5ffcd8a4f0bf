"""What the embedded server's sans-I/O core costs, without sockets or an event loop.

``ServerCore`` is driven as its adapter drives it, on a fake clock: Register requests from
``--clients`` endpoints; a queue-mode Read held for each sleeping client and released by its
Update (hold, release, answer, result); ``--notifications`` Observe notifications on one
observation (freshness check, decode, event). Each prints the cost per item (median of
``--repeat`` runs) next to the items per second, so the wire's share of
``server_registration_rate`` can be told from the core's.

    .venv/bin/python -m benchmarks.server_core
    .venv/bin/python -m benchmarks.server_core --clients 2000 --notifications 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.paths import LwM2MPath
from emulator.server.core import ServerCore
from emulator.server.messages import Completed, DeviceResponse, IncomingRequest, SendRequest
from emulator.server.operations import CONTENT, Method

OBJECTS = b"</1/0>,</3/0>,</4/0>"
TEXT = int(ContentFormat.TEXT)


def _register(core: ServerCore, endpoint: str, binding: str, now: float) -> str:
    request = IncomingRequest(
        method=Method.POST,
        path=("rd",),
        query=(f"ep={endpoint}", "lt=86400", f"b={binding}"),
        payload=OBJECTS,
        address="192.0.2.1:5683",
    )
    return core.handle_request(request, "peer", now).location_path[1]


def _drain(core: ServerCore) -> list[object]:
    out: list[object] = []
    while (event := core.next_event()) is not None:
        out.append(event)
    while (action := core.next_action()) is not None:
        out.append(action)
    return out


def registrations(clients: int) -> float:
    core = ServerCore()
    start = time.perf_counter()
    for index in range(clients):
        _register(core, f"ep-{index}", "U", 0.0)
        _drain(core)
    return time.perf_counter() - start


def queued_reads(clients: int) -> float:
    core = ServerCore(awake_time=1.0)
    ids = [_register(core, f"ep-{index}", "UQ", 0.0) for index in range(clients)]
    core.handle_timer(2.0)  # every awake window closes
    _drain(core)
    path = LwM2MPath(3, 0, 1)
    start = time.perf_counter()
    for index, registration_id in enumerate(ids):
        ticket = core.read(f"ep-{index}", path, ContentFormat.TEXT, now=3.0)
        update = IncomingRequest(method=Method.POST, path=("rd", registration_id))
        core.handle_request(update, "peer", 4.0)
        [send] = [a for a in _drain(core) if isinstance(a, SendRequest)]
        answer = DeviceResponse(code=CONTENT, content_format=TEXT, payload=b"Quectel")
        core.response_received(send.exchange, answer, 4.0)
        assert any(isinstance(a, Completed) and a.ticket == ticket for a in _drain(core))
    return time.perf_counter() - start


def notifications(count: int) -> float:
    core = ServerCore()
    _register(core, "ep", "U", 0.0)
    ticket = core.observe("ep", LwM2MPath(3, 0, 13), ContentFormat.TEXT, now=0.0)
    _drain(core)
    first = DeviceResponse(code=CONTENT, content_format=TEXT, payload=b"0", observe=1)
    core.response_received(ticket, first, 0.0)
    _drain(core)
    start = time.perf_counter()
    for sequence in range(2, count + 2):
        payload = str(1_700_000_000 + sequence).encode()
        note = DeviceResponse(code=CONTENT, content_format=TEXT, payload=payload, observe=sequence)
        core.notification_received(ticket, note, sequence * 0.01)
        _drain(core)
    return time.perf_counter() - start


def _report(name: str, items: int, run: Callable[[int], float], repeat: int) -> None:
    seconds = statistics.median(run(items) for _ in range(repeat))
    per_item_us = seconds / items * 1e6
    rate = items / seconds
    print(f"{name}: {items} in {seconds:.3f} s = {rate:.0f}/s, {per_item_us:.1f} µs each")
    result = {
        "benchmark": "server_core",
        "what": name,
        "items": items,
        "seconds": round(seconds, 4),
        "per_second": round(rate, 1),
        "microseconds_each": round(per_item_us, 2),
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--notifications", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    args = parser.parse_args()
    _report("register", args.clients, registrations, args.repeat)
    _report("queued read (hold, Update, answer)", args.clients, queued_reads, args.repeat)
    _report("notification", args.notifications, notifications, args.repeat)


if __name__ == "__main__":
    main()
