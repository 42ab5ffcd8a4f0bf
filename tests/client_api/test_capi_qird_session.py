"""The AT session reads AT+QIRD's raw data after its ``+QIRD: <n>`` line, and knows
Quectel's TCP/IP answers (``SEND OK``, ``+QIOPEN`` / ``+QPING`` URCs), fed whole and byte
by byte."""

from __future__ import annotations

import re

import pytest

from client_api.at_session import AtSession, CommandCompleted, SessionEvent, UrcReceived

QIRD = re.compile(r'^\+QIRD: ?(\d+)(?:,"([^"]*)",(\d+))?$')  # as usocket reads it


def announce(line: str) -> int | None:
    match = QIRD.match(line)
    return int(match.group(1)) if match else None


def feed(command: str, reply: bytes, *, bytewise: bool, echo: bool) -> list[SessionEvent]:
    session = AtSession(echo_expected=echo)
    session.send_command(command, now=0.0, timeout=1.0, raw_after=announce)
    for chunk in [reply[i : i + 1] for i in range(len(reply))] if bytewise else [reply]:
        session.receive_data(chunk, now=0.5)
    out: list[SessionEvent] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


@pytest.mark.parametrize("bytewise", [False, True])
def test_binary_data_after_the_qird_line_is_taken_raw(bytewise: bool) -> None:
    data = b"OK\r\n\r\nERROR\r\n\x00\xff\x1a"  # looks like lines and result codes: it is data
    reply = b"AT+QIRD=0,1500\r\r\n+QIRD: %d\r\n" % len(data) + data + b"\r\n\r\nOK\r\n"
    events = feed("AT+QIRD=0,1500", reply, bytewise=bytewise, echo=True)
    assert len(events) == 1
    done = events[0]
    assert isinstance(done, CommandCompleted)
    assert done.final == "OK"
    assert done.lines == (f"+QIRD: {len(data)}",)
    assert done.data == data


@pytest.mark.parametrize("bytewise", [False, True])
def test_no_data_and_counters_are_plain_lines(bytewise: bool) -> None:
    for reply, line in (
        (b"\r\n+QIRD: 0\r\n\r\nOK\r\n", "+QIRD: 0"),
        (b"\r\n+QIRD: 9,9,0\r\n\r\nOK\r\n", "+QIRD: 9,9,0"),
    ):
        events = feed("AT+QIRD=0", reply, bytewise=bytewise, echo=False)
        assert events == [
            CommandCompleted(
                command="AT+QIRD=0", lines=(line,), final="OK", completed_at=0.5, data=b""
            )
        ]


def test_send_ok_ends_a_send_and_qiopen_after_ok_is_a_urc() -> None:
    session = AtSession(echo_expected=False)
    session.send_command("AT+QISEND=0,2", now=0.0, timeout=1.0, payload=b"hi")
    session.receive_data(b"\r\n> ", now=0.1)
    assert session.data_to_send() == b"hi"
    session.receive_data(b"\r\nSEND OK\r\n", now=0.2)
    session.send_command('AT+QIOPEN=1,1,"TCP","127.0.0.1",7', now=0.3, timeout=1.0)
    session.receive_data(b"\r\nOK\r\n\r\n+QIOPEN: 1,0\r\n", now=0.4)
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    assert isinstance(events[0], CommandCompleted) and events[0].final == "SEND OK"
    assert isinstance(events[1], CommandCompleted) and events[1].final == "OK"
    assert events[2] == UrcReceived(line="+QIOPEN: 1,0", prefix="+QIOPEN:", received_at=0.4)
