"""The network side in Python (SmsNetwork on a hosted module) and the control lines of
``quecemu serve --control``, without a pty: delivery, awaiting what the module sent, and
the answers to bad control lines."""

from __future__ import annotations

import time

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.sms_network import SmsNetwork
from emulator.app.control import ControlError, DeliverSms, RefuseSends, parse_line
from emulator.sms.model import NotDeliverable
from tests.sms.helpers import sms_profile


async def test_deliver_and_await_what_the_module_sends() -> None:
    host = hosted_module(sms_profile(send_delay_ms=0))
    module = host.module
    out = bytearray()
    host.add_sink(out.extend)
    await host.start()
    network = SmsNetwork(host)
    try:
        host.apply(lambda now: module.handle_timer(now + 5))  # let it boot
        (result,) = network.deliver("+8613912345678", "ping")
        assert (result.stored, result.index) == ("SM", 0)
        assert b'+CMTI: "SM",0' in out
        assert network.received[-1].text == "ping"
        with pytest.raises(TimeoutError, match=r"no SMS within 0\.05 s"):
            await network.next_sent(0.05)
        host.feed(b'ATE0\rAT+CMGF=1\rAT+CMGS="10086"\rpong\x1a')
        sent = await network.next_sent(5.0)
        assert (sent.destination, sent.text) == ("10086", "pong")
        network.refuse_sends(38)
        out.clear()
        host.feed(b'AT+CMGS="10086"\rrefused\x1a')
        host.apply(lambda now: module.handle_timer(now + 1))
        assert b"+CMS ERROR: 38" in out
        network.refuse_sends(None)
        host.feed(b'AT+CMGS="10086"\raccepted\x1a')
        assert (await network.next_sent(5.0)).text == "accepted"
        with pytest.raises(ValueError, match="not 0-511"):
            network.refuse_sends(600)
        module.set_coverage(False, time.monotonic())
        with pytest.raises(NotDeliverable, match="not registered"):
            network.deliver("+8613912345678", "lost")
    finally:
        network.close()
        await host.stop()


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("sms 0 +8613912345678 hello world", DeliverSms(0, "+8613912345678", "hello world")),
        ('sms 2 10086 "two\\nlines"', DeliverSms(2, "10086", "two\nlines")),
        ("   ", None),
        ("sms-reject 0 38", RefuseSends(0, 38)),
        ("sms-reject 1 off", RefuseSends(1, None)),
    ],
)
def test_control_lines(line: str, parsed: object) -> None:
    assert parse_line(line) == parsed


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("reboot 0", "unknown control command 'reboot'"),
        ("sms 0 10086", "usage: sms <module> <sender> <text>"),
        ("sms x 10086 hi", "module 'x' is not a module number"),
        ('sms 0 10086 "unterminated', "text is not a JSON string"),
        ("sms-reject 0", "usage: sms-reject"),
        ("sms-reject 0 999", "not a \\+CMS ERROR code"),
    ],
)
def test_bad_control_lines(line: str, reason: str) -> None:
    with pytest.raises(ControlError, match=reason):
        parse_line(line)
    assert isinstance(parse_line("help"), str)
