"""How long the module waits for a response (emulator.adapters.looptimers.LoopTimers: the
deadlines of all exchanges on one asyncio timer): a server that acknowledges a request and
never answers it (RFC 7252 §5.2.2, a separate response that does not come) ends it after the
response timeout; one that answers in time is heard."""

from __future__ import annotations

import asyncio
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from emulator.adapters.looptimers import LoopTimers

from .conftest import ModuleFactory
from .harness import FAST, lwm2m_profile, merged
from .test_failures_wire import SilentServer, configure, raw

RESPONSE_TIMEOUT_MS = 400


async def acknowledged_register(make_module: ModuleFactory) -> tuple[Any, SilentServer, Any]:
    """A module whose Register the server acknowledged with an empty ACK (no response yet)."""
    server = await SilentServer.start()
    timing = merged(FAST, {"timing_ms": {"response_timeout": RESPONSE_TIMEOUT_MS}})
    module = await make_module(lwm2m_profile(**timing))
    await configure(module, server.port)
    assert await module.at("AT+QLWREG") == ["OK"]
    await asyncio.wait_for(server.arrived.wait(), 3)
    data, device = server.datagrams[0]
    register = aiocoap.Message.decode(data)
    empty_ack = raw(Code.EMPTY, aiocoap.ACK, register.mid, b"")
    server.send(empty_ack.encode(), device)
    return module, server, (register, device)


async def test_an_acknowledged_request_without_response_fails_after_the_timeout(
    make_module: ModuleFactory,
) -> None:
    module, server, _ = await acknowledged_register(make_module)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await module.wait_urc('"ready","failed",1000', timeout=5)
        # Not before the timeout (the ACK stopped the retransmissions, which alone would
        # have given up at 1.4 s; later only by what the machine's load adds: not asserted).
        assert loop.time() - started >= RESPONSE_TIMEOUT_MS / 1000 - 0.05
        assert await module.stat() == 4
        assert len(server.datagrams) == 1  # acknowledged: not retransmitted
    finally:
        server.close()


async def test_a_separate_response_in_time_is_heard(make_module: ModuleFactory) -> None:
    module, server, (register, device) = await acknowledged_register(make_module)
    try:
        response = raw(
            Code.CREATED, aiocoap.CON, 0x2222, register.token, location_path=("rd", "5")
        )
        server.send(response.encode(), device)
        await module.wait_urc('"ready","successfully",1000', timeout=3)
        assert await module.stat() == 2
    finally:
        server.close()


async def test_deadlines_fire_in_order_and_not_when_dropped() -> None:
    loop = asyncio.get_running_loop()
    deadlines = LoopTimers()
    fired: list[str] = []
    done = asyncio.Event()

    def note(name: str) -> None:
        fired.append(name)
        if name == "last":
            done.set()

    deadlines.add(loop, 0.06, lambda: note("last"))
    deadlines.add(loop, 0.02, lambda: note("second"))
    dropped = deadlines.add(loop, 0.01, lambda: note("dropped"))
    deadlines.add(loop, 0.001, lambda: note("first"))
    deadlines.drop(dropped)
    deadlines.drop(dropped)  # twice is once
    started = loop.time()
    await asyncio.wait_for(done.wait(), 3)
    assert fired == ["first", "second", "last"]
    assert loop.time() - started >= 0.05
    assert len(deadlines) == 0


async def test_a_deadline_that_raises_leaves_the_others_their_timer() -> None:
    loop = asyncio.get_running_loop()
    errors: list[BaseException] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context["exception"]))
    try:
        deadlines = LoopTimers()
        done = asyncio.Event()

        def fail() -> None:
            raise RuntimeError("a bug in a callback")

        deadlines.add(loop, 0.001, fail)
        deadlines.add(loop, 0.03, done.set)
        await asyncio.wait_for(done.wait(), 3)
        assert [str(e) for e in errors] == ["a bug in a callback"]
    finally:
        loop.set_exception_handler(None)


@pytest.mark.parametrize("live", [0, 10])
async def test_dropped_deadlines_do_not_pile_up(live: int) -> None:
    """Ended exchanges leave emptied tickets behind; they are swept once they are most of the
    heap, so a fleet's heap holds about its live deadlines, not every request of the last
    MAX_TRANSMIT_WAIT."""
    loop = asyncio.get_running_loop()
    deadlines = LoopTimers()
    for _ in range(live):
        deadlines.add(loop, 60.0, lambda: None)
    for _ in range(20 * LoopTimers.COMPACT_AT):
        deadlines.drop(deadlines.add(loop, 60.0, lambda: None))
        assert len(deadlines) <= live + 2 * LoopTimers.COMPACT_AT
    assert LoopTimers.of(asyncio.get_running_loop()) is LoopTimers.of(asyncio.get_running_loop())


async def test_a_timer_that_rearms_itself_at_once_waits_for_the_next_turn() -> None:
    """A callback that adds a due timer again (a module whose next timer is already due)
    does not hold the loop: the new one runs on the loop's next turn, after the callbacks
    that were waiting."""
    loop = asyncio.get_running_loop()
    timers = LoopTimers()
    turns: list[str] = []
    second = asyncio.Event()

    def again() -> None:
        turns.append("timer")
        if len(turns) == 1:
            loop.call_soon(turns.append, "other")
            timers.add(loop, 0.0, again)
        else:
            second.set()

    timers.add(loop, 0.0, again)
    await asyncio.wait_for(second.wait(), 5)
    assert turns == ["timer", "other", "timer"]
