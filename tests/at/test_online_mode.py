"""The engine's online data mode (transparent access): bytes both ways after CONNECT, the
``+++`` escape only with its guard times, a deferred CONNECT, NO CARRIER when the link ends."""

from __future__ import annotations

from emulator.at.errors import SyntaxAtError
from emulator.at.parser import Args, Form
from emulator.at.registry import OnlineData, Response
from emulator.commands.context import CommandContext
from emulator.module.events import RebootCause
from tests.support import FakeClockModule


class Link:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.escapes = 0

    def online(self) -> OnlineData:
        return OnlineData(on_data=self.on_data, on_escape=self.on_escape, guard=1.0)

    def on_data(self, data: bytes, now: float) -> None:
        self.sent += data

    def on_escape(self, now: float) -> None:
        self.escapes += 1


def module_with_link() -> tuple[FakeClockModule, Link]:
    """``AT+TLINK`` answers CONNECT at once; ``AT+TLATER`` answers later (complete())."""
    m = FakeClockModule()
    link = Link()

    def at_once(ctx: CommandContext, args: Args) -> Response:
        return Response(final="CONNECT", online=link.online())

    def later(ctx: CommandContext, args: Args) -> Response:
        return Response(final=None, deferred=True)

    m.module.engine.registry.add("+TLINK", Form.EXEC, at_once)
    m.module.engine.registry.add("+TLATER", Form.EXEC, later)
    m.send(b"ATE0\r")
    return m, link


def test_bytes_flow_both_ways_and_urcs_wait_for_command_mode() -> None:
    m, link = module_with_link()
    assert m.send(b"AT+TLINK\r") == b"\r\nCONNECT\r\n"
    assert m.module.engine.in_online_mode
    m.module.raise_urc('+QIURC: "recv",1', m.now)
    assert m.send(b"AT\r\x1a\x1b\x00+") == b""  # no echo, no answer: it is all data
    assert bytes(link.sent) == b"AT\r\x1a\x1b\x00+"
    m.module.engine.write_online(b"from the peer\r\n")
    m.run_timers()
    assert m.take() == b"from the peer\r\n"
    m.advance(1.0)
    assert m.send(b"+++") == b""
    m.advance(0.999)
    assert m.take() == b""  # the guard time after it has not passed yet
    m.advance(0.001)
    assert m.take() == b'\r\nOK\r\n\r\n+QIURC: "recv",1\r\n'
    assert link.escapes == 1 and not m.module.engine.in_online_mode
    assert bytes(link.sent) == b"AT\r\x1a\x1b\x00+"  # the escape is not data
    assert m.send(b"AT\r") == b"\r\nOK\r\n"


def test_pluses_without_their_guard_times_are_data() -> None:
    m, link = module_with_link()
    m.send(b"AT+TLINK\r")
    m.advance(1.0)
    m.send(b"a+++")  # no silence before them
    m.advance(2.0)
    assert bytes(link.sent) == b"a+++" and link.escapes == 0
    m.send(b"+++")  # silence before, but data right after
    m.advance(0.5)
    m.send(b"b")
    assert bytes(link.sent) == b"a++++++b"
    m.advance(1.0)
    m.send(b"++")  # two pluses alone become data once their guard time is over
    m.advance(1.0)
    assert bytes(link.sent) == b"a++++++b++"
    m.advance(1.0)
    m.send(b"+")
    m.advance(0.6)
    m.send(b"+")
    m.advance(0.6)
    m.send(b"+")  # three pluses spread over more than the guard time: data
    m.advance(2.0)
    assert bytes(link.sent) == b"a++++++b+++++" and link.escapes == 0
    assert m.take() == b""
    m.send(b"++++")  # four are data too
    m.advance(2.0)
    assert bytes(link.sent).endswith(b"++++") and link.escapes == 0
    for piece in (b"+", b"+", b"+"):  # one at a time, within the guard: an escape
        m.advance(0.1)
        m.send(piece)
    m.advance(1.0)
    assert m.take() == b"\r\nOK\r\n" and link.escapes == 1


def test_the_link_ending_says_no_carrier_and_releases_urcs() -> None:
    m, link = module_with_link()
    m.send(b"AT+TLINK\r")
    m.module.raise_urc('+QIURC: "pdpdeact",1', m.now)
    m.advance(1.0)
    m.send(b"+")  # held, then lost with the link
    m.module.engine.write_online(b"last")
    m.module.engine.end_online(m.now)
    m.run_timers()
    assert m.take() == b'last\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    assert m.send(b"AT\r") == b"\r\nOK\r\n"
    assert bytes(link.sent) == b""
    m.module.engine.write_online(b"late")  # the link is gone: nothing reaches the port
    assert m.send(b"AT\r") == b"\r\nOK\r\n"


def test_a_deferred_result_holds_the_port_until_it_comes() -> None:
    m, link = module_with_link()
    assert m.send(b"AT+TLATER\r") == b""
    assert m.module.engine.awaiting_result
    m.module.raise_urc("+QIND: x", m.now)
    assert m.send(b"typed early") == b""  # waits with the port
    assert m.module.engine.complete(m.now, final="CONNECT", online=link.online())
    m.run_timers()
    assert m.take() == b"\r\nCONNECT\r\n"
    assert bytes(link.sent) == b"typed early"
    assert not m.module.engine.complete(m.now)  # nothing awaited any more
    m.module.engine.end_online(m.now)
    m.run_timers()
    assert m.take() == b"\r\nNO CARRIER\r\n\r\n+QIND: x\r\n"
    m.send(b"AT+TLATER\r")
    m.module.engine.complete(m.now, error=SyntaxAtError("refused"))
    m.run_timers()
    assert m.take() == b"\r\nERROR\r\n"
    assert m.send(b"AT\r") == b"\r\nOK\r\n"


def test_numeric_results_after_atv0() -> None:
    m, _ = module_with_link()
    m.send(b"ATV0\r")
    assert m.send(b"AT+TLINK\r") == b"1\r"
    m.module.engine.end_online(m.now)
    m.run_timers()
    assert m.take() == b"3\r"


def test_a_reboot_ends_online_mode() -> None:
    m, _ = module_with_link()
    m.send(b"AT+TLINK\r")
    m.module.reboot(m.now, RebootCause.CONTROL, detail="test")
    m.advance(10.0)
    m.take()
    assert not m.module.engine.in_online_mode
    assert m.send(b"AT\r").endswith(b"OK\r\n")
