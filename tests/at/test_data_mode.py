"""The engine's raw input after a ``> `` or ``CONNECT`` prompt, byte by byte."""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import DataInput, Response
from emulator.commands.context import CommandContext
from tests.support import FakeClockModule, chunkings


def _module_with_prompt_command() -> FakeClockModule:
    """``AT+TDATA=<len>`` takes <len> bytes (0: up to Ctrl-Z) and answers +TDATA: <hex>."""
    m = FakeClockModule()

    def handler(ctx: CommandContext, args: Args) -> Response:
        length = args.int(0, 0, 100)

        def on_data(data: bytes, now: float) -> Response:
            if len(data) > 8:
                raise IncorrectParameters("too long")
            return Response(lines=[f"+TDATA: {data.hex()}"])

        def on_timeout(data: bytes, now: float) -> Response:
            return Response(lines=[f"+TDATA: timeout {len(data)}"], final="ERROR")

        return Response(
            final=None,
            data_input=DataInput(
                prompt=b"\r\n> ",
                length=length or None,
                on_data=on_data,
                on_timeout=on_timeout,
                timeout=5.0,
                max_length=8,
            ),
        )

    m.module.engine.registry.add("+TDATA", Form.WRITE, handler)
    return m


def test_fixed_length_input_takes_binary_and_ends_at_the_length() -> None:
    wire = b"AT+TDATA=4\r" + b"\x1b\x1a\r\n" + b"AT\r"
    for name, chunks in chunkings(wire):
        m = _module_with_prompt_command()
        got = m.send(chunks)
        assert got == b"AT+TDATA=4\r\r\n> \r\n+TDATA: 1b1a0d0a\r\n\r\nOK\r\nAT\r\r\nOK\r\n", name


def test_ctrl_z_ends_esc_cancels_and_urcs_wait_for_the_answer() -> None:
    m = _module_with_prompt_command()
    assert m.send(b"AT+TDATA=0\r") == b"AT+TDATA=0\r\r\n> "
    m.module.raise_urc("+QIND: test", m.now)
    assert m.send(b"hi") == b""  # data is not echoed, URCs are held
    assert m.send(b"\x1a") == b"\r\n+TDATA: 6869\r\n\r\nOK\r\n\r\n+QIND: test\r\n"
    assert m.send(b"AT+TDATA=0\r") == b"AT+TDATA=0\r\r\n> "
    assert m.send(b"abc\x1b") == b"\r\nOK\r\n"


def test_overlong_input_and_timeout_answer_without_hanging_the_port() -> None:
    m = _module_with_prompt_command()
    m.send(b"AT+TDATA=0\r")
    assert m.send(b"0123456789" * 20 + b"\x1a") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+TDATA=4\r") == b"AT+TDATA=4\r\r\n> "
    assert m.send(b"ab") == b""
    m.advance(5.0)
    assert m.take() == b"\r\n+TDATA: timeout 2\r\n\r\nERROR\r\n"
    assert m.send(b"AT\r") == b"AT\r\r\nOK\r\n"
