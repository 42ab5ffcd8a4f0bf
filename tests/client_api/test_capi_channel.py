"""The threaded AT channel against a scripted fake module on a real pty (and TCP)."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from pathlib import Path

import pytest
import serial
from serial import rfc2217

import client_api
from client_api.at_session import UrcReceived
from client_api.channel import AtChannel
from client_api.errors import (
    ChannelClosed,
    CmeError,
    CommandError,
    CommandTimeout,
    ModuleGone,
    PortNotConfigured,
)
from tests.client_api.capi_fake import FakeModule, cme, error, ok, urc_bytes

READY = '+QLWURC: "ready","successfully",1000'
WAIT = 3.0


def urc_queue(channel: AtChannel, prefix: str | None = None) -> queue.Queue[UrcReceived]:
    received: queue.Queue[UrcReceived] = queue.Queue()
    channel.add_urc_listener(received.put, prefix)
    return received


def test_command_bytes_and_response(fake: FakeModule, channel: AtChannel) -> None:
    fake.answer("AT+CSQ", ok("+CSQ: 24,99"))
    response = channel.command("AT+CSQ")
    assert fake.received == b"AT+CSQ\r"
    assert response.lines == ("+CSQ: 24,99",)
    assert response.value("+CSQ:") == "24,99"


def test_echo_off_module(channel: AtChannel, fake: FakeModule) -> None:
    fake.echo = False
    fake.answer("AT+CGMM", ok("EC200U"))
    assert channel.command("AT+CGMM").lines == ("EC200U",)


def test_ate0_is_followed_correctly(channel: AtChannel, fake: FakeModule) -> None:
    fake.answer("AT+CGMR", ok("EC200UCNAAR03A15M08"))
    channel.command("ATE0")
    assert channel.command("AT+CGMR").lines == ("EC200UCNAAR03A15M08",)
    channel.command("ATE1")
    assert channel.command("AT+CGMR").lines == ("EC200UCNAAR03A15M08",)


def test_urc_in_the_middle_of_a_response_is_delivered(fake: FakeModule, channel: AtChannel) -> None:
    urcs = urc_queue(channel)
    fake.answer("AT+CSQ", b"\r\n+CSQ: 24,99\r\n" + urc_bytes(READY) + b"\r\nOK\r\n")
    assert channel.command("AT+CSQ").lines == ("+CSQ: 24,99",)
    assert urcs.get(timeout=WAIT).line == READY


def test_urc_delivered_before_the_echo() -> None:
    fake = FakeModule(urcs_before_echo=True)
    channel = AtChannel(fake.url, command_timeout=1.0)
    try:
        urcs = urc_queue(channel, "+QLWURC:")
        fake.answer("AT+QLWSTAT?", ok("+QLWSTAT: 2"))
        fake.urc(READY)
        assert channel.command("AT+QLWSTAT?").lines == ("+QLWSTAT: 2",)
        assert fake.received == b"AT+QLWSTAT?\r"
        assert urcs.get(timeout=WAIT).line == READY
    finally:
        channel.close()
        fake.close()


def test_unsolicited_urc_while_idle(fake: FakeModule, channel: AtChannel) -> None:
    urcs = urc_queue(channel)
    for text in ("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"):
        fake.urc(text)
    got = [urcs.get(timeout=WAIT).line for _ in range(5)]
    assert got == ["RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"]


def test_prefix_filter(fake: FakeModule, channel: AtChannel) -> None:
    lw = urc_queue(channel, "+QLWURC:")
    everything = urc_queue(channel)
    fake.urc("+CEREG: 1")
    fake.urc(READY)
    assert everything.get(timeout=WAIT).line == "+CEREG: 1"
    assert lw.get(timeout=WAIT).line == READY


def test_errors_raise_with_reason(fake: FakeModule, channel: AtChannel) -> None:
    fake.answer("AT+X", error())
    fake.answer("AT+Y", cme(4))
    fake.answer("AT+Z", cme("operation not supported"))
    with pytest.raises(CommandError, match="'AT\\+X' answered 'ERROR'") as plain:
        channel.command("AT+X")
    assert not isinstance(plain.value, CmeError)
    with pytest.raises(CmeError) as numeric:
        channel.command("AT+Y")
    assert numeric.value.code == 4
    with pytest.raises(CmeError) as text:
        channel.command("AT+Z")
    assert text.value.code == 4 and text.value.text == "operation not supported"


def test_timeout_then_channel_still_works(fake: FakeModule, channel: AtChannel) -> None:
    fake.answer("AT+QIACT=1", None)  # never answers
    fake.answer("AT+CSQ", ok("+CSQ: 24,99"))
    with pytest.raises(CommandTimeout, match=r"no final result code within 0\.2 s"):
        channel.command("AT+QIACT=1", timeout=0.2)
    fake.send(ok())  # the late answer of the timed-out command
    assert channel.command("AT+CSQ").lines == ("+CSQ: 24,99",)


def test_commands_from_many_threads_are_serialised(fake: FakeModule, channel: AtChannel) -> None:
    for n in range(8):
        fake.answer(f"AT+N={n}", ok(f"+N: {n}"))
    results: dict[int, tuple[str, ...]] = {}

    def ask(n: int) -> None:
        results[n] = channel.command(f"AT+N={n}").lines

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results == {n: (f"+N: {n}",) for n in range(8)}


def test_listener_may_send_commands(fake: FakeModule, channel: AtChannel) -> None:
    fake.answer("AT+QLWSTAT?", ok("+QLWSTAT: 2"))
    answers: queue.Queue[tuple[str, ...]] = queue.Queue()
    channel.add_urc_listener(lambda urc: answers.put(channel.command("AT+QLWSTAT?").lines))
    fake.urc(READY)
    assert answers.get(timeout=WAIT) == ("+QLWSTAT: 2",)


def test_listener_exception_is_logged_and_delivery_goes_on(
    fake: FakeModule, channel: AtChannel, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(urc: UrcReceived) -> None:
        raise RuntimeError("callback bug")

    channel.add_urc_listener(broken)
    urcs = urc_queue(channel)
    with caplog.at_level(logging.ERROR, logger="client_api.channel"):
        fake.urc('+QLWURC: "registering"')
        fake.urc(READY)
        assert urcs.get(timeout=WAIT).line == '+QLWURC: "registering"'
        assert urcs.get(timeout=WAIT).line == READY
        assert channel.drain_urcs(WAIT)
    failures = [r for r in caplog.records if "URC listener failed" in r.getMessage()]
    assert len(failures) == 2 and "callback bug" in (failures[0].exc_text or "")


def test_removed_listener_gets_nothing(fake: FakeModule, channel: AtChannel) -> None:
    got: list[str] = []
    remove = channel.add_urc_listener(lambda u: got.append(u.line))
    remove()
    fake.urc(READY)
    assert channel.drain_urcs(WAIT)
    assert got == []


def test_module_vanishes_and_returns(tmp_path: Path) -> None:
    link = tmp_path / "ttyQ0"
    fake = FakeModule(link=link)
    channel = AtChannel(str(link), command_timeout=2.0, reconnect_interval=0.05)
    try:
        fake.answer("AT+QIACT=1", None)
        answered = threading.Event()
        outcome: list[BaseException] = []

        def in_flight() -> None:
            try:
                channel.command("AT+QIACT=1")
            except BaseException as exc:
                outcome.append(exc)
            answered.set()

        thread = threading.Thread(target=in_flight)
        thread.start()
        assert fake.next_command() == "AT+QIACT=1"
        fake.vanish()
        assert answered.wait(WAIT)
        assert isinstance(outcome[0], ModuleGone)
        assert "during 'AT+QIACT=1'" in str(outcome[0])
        with pytest.raises(ModuleGone, match=f"module on {link} is gone"):
            channel.command("AT")
        assert not channel.connected and channel.gone_reason
        fake.come_back()
        assert channel.wait_connected(WAIT)
        fake.answer("AT+CGMM", ok("EC200U"))
        assert channel.command("AT+CGMM").lines == ("EC200U",)
    finally:
        channel.close()
        fake.close()


def test_absent_port_is_opened_when_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "ttyQ1"
    channel = AtChannel(str(link), reconnect_interval=0.05)
    try:
        assert not channel.connected
        with pytest.raises(ModuleGone, match="cannot open"):
            channel.command("AT")
        fake = FakeModule(link=link)
        try:
            assert channel.wait_connected(WAIT)
            assert channel.command("AT").final == "OK"
        finally:
            fake.close()
    finally:
        channel.close()


def test_socket_url() -> None:
    fake = FakeModule(tcp=True)
    channel = AtChannel(fake.url, command_timeout=2.0)
    try:
        fake.answer("AT+CGMI", ok("Quectel"))
        assert channel.command("AT+CGMI").lines == ("Quectel",)
        assert fake.received == b"AT+CGMI\r"
    finally:
        channel.close()
        fake.close()


def test_close_fails_the_command_in_flight(fake: FakeModule, channel: AtChannel) -> None:
    fake.answer("AT+QIACT=1", None)
    outcome: queue.Queue[BaseException] = queue.Queue()

    def in_flight() -> None:
        try:
            channel.command("AT+QIACT=1")
        except BaseException as exc:
            outcome.put(exc)

    threading.Thread(target=in_flight).start()
    assert fake.next_command() == "AT+QIACT=1"
    channel.close()
    assert isinstance(outcome.get(timeout=WAIT), ChannelClosed)
    with pytest.raises(ChannelClosed):
        channel.command("AT")


def test_bad_command_is_refused_before_sending(fake: FakeModule, channel: AtChannel) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        channel.command("AT+X\r\nAT+Y")
    assert fake.received == b""


def test_one_shared_channel_per_port(fake: FakeModule, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PortNotConfigured, match="QUECEMU_PORT"):
        client_api.default_channel()
    monkeypatch.setenv(client_api.PORT_ENV, fake.url)
    first = client_api.default_channel()
    assert client_api.open(fake.url) is first
    assert client_api.open() is first
    assert first.command("AT").final == "OK"


@pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")
def test_rfc2217_url(fake: FakeModule) -> None:
    """A module behind an RFC 2217 server (as ser2net offers one) on another machine."""
    module_side = serial.Serial(fake.device, timeout=0.02)
    line_settings = serial.serial_for_url("loop://")  # takes the client's baud/RTS/DTR
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(0.02)

        class Network:
            def write(self, data: bytes) -> None:
                conn.sendall(data)

        manager = rfc2217.PortManager(line_settings, Network())
        while not stop.is_set():
            try:
                data = conn.recv(4096)
                if not data:
                    break
                module_side.write(b"".join(manager.filter(data)))
            except TimeoutError:
                pass
            incoming = module_side.read(module_side.in_waiting or 1)
            if incoming:
                conn.sendall(b"".join(manager.escape(incoming)))
        conn.close()

    bridge = threading.Thread(target=serve, daemon=True)
    bridge.start()
    channel = AtChannel(f"rfc2217://127.0.0.1:{listener.getsockname()[1]}", command_timeout=3.0)
    try:
        fake.answer("AT+CGMI", ok("Quectel"))
        assert channel.wait_connected(WAIT)
        assert channel.command("AT+CGMI").lines == ("Quectel",)
        assert fake.received == b"AT+CGMI\r"
    finally:
        channel.close()
        stop.set()
        bridge.join(WAIT)
        listener.close()
        module_side.close()
        line_settings.close()
