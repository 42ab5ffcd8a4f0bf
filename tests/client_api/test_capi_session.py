"""The sans-I/O AT session: bytes in, events out, fed whole and byte by byte."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client_api.at_session import (
    AtSession,
    CommandCompleted,
    CommandTimedOut,
    LineOverflow,
    SessionEvent,
    StrayLine,
    UrcReceived,
    describe_command,
)

READY = '+QLWURC: "ready","successfully",1000'


def events(session: AtSession) -> list[SessionEvent]:
    out: list[SessionEvent] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    yield [data]
    yield [bytes([b]) for b in data]
    yield [data[:3], data[3:17], data[17:]]


def run(command: str, reply: bytes, *, echo: bool | None = None) -> list[list[SessionEvent]]:
    """The events for ``reply`` under every chunking; asserts the bytes to write."""
    results = []
    for chunks in chunkings(reply):
        session = AtSession(echo_expected=echo)
        assert session.send_command(command, now=0.0, timeout=1.0) == command.encode() + b"\r"
        for chunk in chunks:
            session.receive_data(chunk, now=0.5)
        results.append(events(session))
    assert all(r == results[0] for r in results), "chunking changed the outcome"
    return results


def completed(command: str, lines: tuple[str, ...], final: str = "OK") -> CommandCompleted:
    return CommandCompleted(command=command, lines=lines, final=final, completed_at=0.5)


def urc(line: str, prefix: str) -> UrcReceived:
    return UrcReceived(line=line, prefix=prefix, received_at=0.5)


def test_response_with_echo() -> None:
    got = run("AT+CSQ", b"AT+CSQ\r\r\n+CSQ: 24,99\r\n\r\nOK\r\n")
    assert got[0] == [completed("AT+CSQ", ("+CSQ: 24,99",))]


def test_response_without_echo() -> None:
    got = run("AT+CGMM", b"\r\nEC200U\r\n\r\nOK\r\n")
    assert got[0] == [completed("AT+CGMM", ("EC200U",))]


def test_urc_in_the_middle_of_a_response() -> None:
    reply = b"AT+CSQ\r\r\n+CSQ: 24,99\r\n\r\n" + READY.encode() + b"\r\n\r\nOK\r\n"
    got = run("AT+CSQ", reply)
    assert got[0] == [urc(READY, "+QLWURC:"), completed("AT+CSQ", ("+CSQ: 24,99",))]


def test_urc_just_before_the_echo() -> None:
    # The emulator's fault switch: held URCs go out when the next command line starts.
    reply = b"\r\n" + READY.encode() + b"\r\nAT+QLWSTAT?\r\r\n+QLWSTAT: 2\r\n\r\nOK\r\n"
    got = run("AT+QLWSTAT?", reply)
    assert got[0] == [urc(READY, "+QLWURC:"), completed("AT+QLWSTAT?", ("+QLWSTAT: 2",))]


def test_lines_before_a_late_echo_are_not_the_response() -> None:
    # Echo setting unknown (first command): "+CFUN: 1" could answer AT+CFUN? until the
    # echo shows it came first, so it was a URC; the real answer follows the echo.
    reply = b"\r\nRDY\r\n\r\n+CFUN: 1\r\nAT+CFUN?\r\r\n+CFUN: 1\r\n\r\nOK\r\n"
    got = run("AT+CFUN?", reply)
    assert got[0] == [
        urc("RDY", "RDY"),
        urc("+CFUN: 1", "+CFUN:"),
        completed("AT+CFUN?", ("+CFUN: 1",)),
    ]


def test_cereg_read_response_versus_unsolicited_cereg() -> None:
    reply = b'\r\n+CEREG: 1\r\n\r\n+CEREG: 0,1\r\n\r\n+CEREG: 5,"5A1F","0B2C3D41",7\r\n\r\nOK\r\n'
    got = run("AT+CEREG?", reply)
    assert got[0] == [
        urc("+CEREG: 1", "+CEREG:"),
        urc('+CEREG: 5,"5A1F","0B2C3D41",7', "+CEREG:"),
        completed("AT+CEREG?", ("+CEREG: 0,1",)),
    ]


def test_cereg_test_form_is_a_response() -> None:
    got = run("AT+CEREG=?", b"\r\n+CEREG: (0-2,4)\r\n\r\nOK\r\n")
    assert got[0] == [completed("AT+CEREG=?", ("+CEREG: (0-2,4)",))]


def test_same_prefix_is_unsolicited_for_another_command() -> None:
    got = run("AT+CSQ", b"\r\n+CEREG: 0,1\r\n\r\n+CSQ: 24,99\r\n\r\nOK\r\n")
    assert got[0] == [urc("+CEREG: 0,1", "+CEREG:"), completed("AT+CSQ", ("+CSQ: 24,99",))]


def test_cpin_answers_cpin_but_is_a_urc_otherwise() -> None:
    assert run("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n")[0] == [
        completed("AT+CPIN?", ("+CPIN: READY",))
    ]
    assert run("AT+CSQ", b"\r\n+CPIN: READY\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n")[0] == [
        urc("+CPIN: READY", "+CPIN:"),
        completed("AT+CSQ", ("+CSQ: 9,99",)),
    ]


def test_boot_urcs_while_idle() -> None:
    session = AtSession()
    session.receive_data(b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+QIND: PB DONE\r\n", now=1.0)
    assert [e.line for e in events(session) if isinstance(e, UrcReceived)] == [
        "RDY",
        "+CFUN: 1",
        "+QIND: PB DONE",
    ]


@pytest.mark.parametrize(
    "final", ["ERROR", "+CME ERROR: 4", "+CME ERROR: operation not supported", "NO CARRIER"]
)
def test_error_finals_end_the_command(final: str) -> None:
    command = 'AT+QLWCFG="epname","x"'
    reply = command.encode() + b"\r\r\n" + final.encode() + b"\r\n"
    assert run(command, reply)[0] == [completed(command, (), final)]


def test_timeout_then_late_answer_is_stray() -> None:
    session = AtSession()
    session.send_command("AT+QIACT=1", now=0.0, timeout=2.0)
    session.receive_data(b"AT+QIACT=1\r", now=0.1)
    assert session.get_timer() == 2.0
    session.handle_timer(now=1.9)
    assert events(session) == []
    session.handle_timer(now=2.0)
    assert events(session) == [CommandTimedOut(command="AT+QIACT=1", lines=(), timeout=2.0)]
    assert session.echo_expected is True  # the echo came, only the answer did not
    session.receive_data(b"\r\nOK\r\n", now=2.5)
    assert events(session) == [StrayLine(line="OK", reason="no command in flight")]


def test_timeout_without_the_awaited_echo_forgets_the_echo_setting() -> None:
    session = AtSession(echo_expected=True)
    session.send_command("AT+CSQ", now=0.0, timeout=1.0)
    session.receive_data(b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n", now=0.1)  # echo off now
    session.handle_timer(now=1.0)
    assert isinstance(events(session)[-1], CommandTimedOut)
    assert session.echo_expected is None
    session.send_command("AT+CSQ", now=1.1, timeout=1.0)
    session.receive_data(b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n", now=1.2)
    assert events(session) == [completed_at("AT+CSQ", ("+CSQ: 5,99",), 1.2)]
    assert session.echo_expected is False


def test_leftover_answer_before_the_echo_is_not_taken_for_the_new_command() -> None:
    session = AtSession(echo_expected=True)
    session.send_command("AT+CSQ", now=0.0, timeout=1.0)
    leftover = b"\r\n+QIACT: 1,1,1\r\n\r\nOK\r\n"
    session.receive_data(leftover + b"AT+CSQ\r\r\n+CSQ: 5,99\r\n\r\nOK\r\n", 0.2)
    got = events(session)
    assert [e for e in got if isinstance(e, StrayLine)] == [
        StrayLine(line="+QIACT: 1,1,1", reason="before the echo of 'AT+CSQ'"),
        StrayLine(line="OK", reason="before the echo of 'AT+CSQ'"),
    ]
    assert got[-1] == CommandCompleted(
        command="AT+CSQ", lines=("+CSQ: 5,99",), final="OK", completed_at=0.2
    )


def test_ate0_then_commands_without_echo() -> None:
    session = AtSession()
    session.send_command("ATE0", now=0.0, timeout=1.0)
    session.receive_data(b"ATE0\r\r\nOK\r\n", now=0.1)
    assert events(session) == [completed_at("ATE0", (), 0.1)]
    assert session.echo_expected is False
    session.send_command("AT+CGMR", now=0.2, timeout=1.0)
    session.receive_data(b"\r\nEC200UCNAAR03A15M08\r\n\r\nOK\r\n", now=0.3)
    assert events(session) == [completed_at("AT+CGMR", ("EC200UCNAAR03A15M08",), 0.3)]


def test_ate1_with_echo_off_expects_echo_afterwards() -> None:
    session = AtSession(echo_expected=False)
    session.send_command("ATE1", now=0.0, timeout=1.0)
    session.receive_data(b"\r\nOK\r\n", now=0.1)
    events(session)
    assert session.echo_expected is True


def completed_at(command: str, lines: tuple[str, ...], at: float) -> CommandCompleted:
    return CommandCompleted(command=command, lines=lines, final="OK", completed_at=at)


def test_overlong_line_is_dropped_and_reported() -> None:
    session = AtSession(max_line=16)
    session.receive_data(b"\r\n" + b"x" * 40 + b"\r\n\r\nRDY\r\n", now=0.0)
    assert events(session) == [
        LineOverflow(dropped_bytes=40, limit=16),
        UrcReceived(line="RDY", prefix="RDY", received_at=0.0),
    ]


def test_one_command_at_a_time_and_only_sane_lines() -> None:
    session = AtSession()
    with pytest.raises(ValueError, match="starts with AT"):
        session.send_command("CSQ", now=0.0, timeout=1.0)
    with pytest.raises(ValueError, match="printable ASCII"):
        session.send_command("AT+X\rAT+Y", now=0.0, timeout=1.0)
    session.send_command("AT", now=0.0, timeout=1.0)
    with pytest.raises(RuntimeError, match="still in flight"):
        session.send_command("AT", now=0.0, timeout=1.0)


def test_port_lost_resets_the_session() -> None:
    session = AtSession(echo_expected=True)
    session.send_command("AT+CSQ", now=0.0, timeout=1.0)
    session.receive_data(b"AT+CS", now=0.1)
    assert session.reset() == "AT+CSQ"
    assert session.command_in_flight is None and session.echo_expected is None
    session.receive_data(b"\r\nRDY\r\n", now=0.2)
    assert events(session) == [UrcReceived(line="RDY", prefix="RDY", received_at=0.2)]


@pytest.mark.parametrize(
    ("command", "prefixes", "effect"),
    [
        ("AT+CEREG?", {"+CEREG:"}, "unchanged"),
        ("AT+CPIN?;+CSQ", {"+CPIN:", "+CSQ:"}, "unchanged"),
        ('AT+QLWCFG="a;b",1', {"+QLWCFG:"}, "unchanged"),
        ("ATE0V1", set(), False),
        ("ATE", set(), False),
        ("ATE1+CMEE=2", {"+CMEE:"}, True),
        ("ATZ", set(), None),
        ("AT&F", set(), None),
        ("ATS3=13E1", set(), True),
        ("ATI", set(), "unchanged"),
    ],
)
def test_describe_command(command: str, prefixes: set[str], effect: object) -> None:
    shape = describe_command(command)
    assert shape.response_prefixes == prefixes
    if effect == "unchanged":
        assert type(shape.echo_effect).__name__ == "_Unchanged"
    else:
        assert shape.echo_effect is effect


# ---------------------------------------------------------------- ATV0: numeric result codes
def test_atv0_itself_answers_with_a_numeric_ok() -> None:
    got = run("ATV0", b"ATV0\r0\r")
    assert got[0] == [completed("ATV0", ())]


@pytest.mark.parametrize("echo", [True, False])
def test_numeric_ok_ends_a_command_and_text_keeps_its_lines(echo: bool) -> None:
    reply = (b"AT+CSQ\r" if echo else b"") + b"+CSQ: 24,99\r\n0\r"
    got = run("AT+CSQ", reply)
    assert got[0] == [completed("AT+CSQ", ("+CSQ: 24,99",))]


def test_numeric_error_and_cme_error_lines() -> None:
    assert run("AT+NOPE", b"AT+NOPE\r4\r")[0] == [completed("AT+NOPE", (), "ERROR")]
    got = run("AT+CPIN?", b"AT+CPIN?\r+CME ERROR: 10\r\n")
    assert got[0] == [completed("AT+CPIN?", (), "+CME ERROR: 10")]


def test_a_digit_line_ended_by_cr_lf_is_text_not_a_result_code() -> None:
    """A one-digit answer (e.g. ``ATS0?``) ends with CR LF, its result code with a bare CR.
    (Split between that CR and LF in numeric mode, the CR decides: see the module doc.)"""
    for verbose in (None, False):
        session = AtSession(verbose_expected=verbose)
        session.send_command("ATS0?", now=0.0, timeout=1.0)
        session.receive_data(b"ATS0?\r0\r\n0\r", now=0.5)
        assert events(session) == [completed("ATS0?", ("0",))]
    session = AtSession(echo_expected=False, verbose_expected=True)
    session.send_command("ATS0?", now=0.0, timeout=1.0)
    for byte in b"\r\n0\r\n\r\nOK\r\n":  # verbose known: the LF is awaited
        session.receive_data(bytes([byte]), now=0.5)
    assert events(session) == [completed("ATS0?", ("0",))]


def test_the_form_is_learnt_from_the_finals() -> None:
    session = AtSession()
    session.send_command("ATV0", now=0.0, timeout=1.0)
    session.receive_data(b"ATV0\r0\r", now=0.1)
    assert events(session) == [
        CommandCompleted(command="ATV0", lines=(), final="OK", completed_at=0.1)
    ]
    assert session.verbose_expected is False
    session.send_command("ATV1", now=0.2, timeout=1.0)
    session.receive_data(b"ATV1\r\r\nOK\r\n", now=0.3)
    assert [e.final for e in events(session) if isinstance(e, CommandCompleted)] == ["OK"]
    assert session.verbose_expected is True
    # Verbose now: a digit line whose LF has not arrived yet waits for it.
    session.send_command("ATS0?", now=0.4, timeout=1.0)
    session.receive_data(b"ATS0?\r\r\n0\r", now=0.5)
    assert events(session) == []
    session.receive_data(b"\n\r\nOK\r\n", now=0.6)
    assert events(session) == [
        CommandCompleted(command="ATS0?", lines=("0",), final="OK", completed_at=0.6)
    ]


def test_numeric_ring_without_a_command_is_a_urc() -> None:
    session = AtSession(verbose_expected=False)
    session.receive_data(b"2\r", now=0.1)
    assert events(session) == [UrcReceived(line="RING", prefix="RING", received_at=0.1)]


def test_urcs_in_numeric_mode_keep_their_text() -> None:
    got = run("AT+CSQ", b'AT+CSQ\r+QLWURC: "ready","successfully",1000\r\n+CSQ: 5,99\r\n0\r')
    assert got[0] == [urc(READY, "+QLWURC:"), completed("AT+CSQ", ("+CSQ: 5,99",))]


def test_a_lost_lf_is_settled_at_the_deadline() -> None:
    session = AtSession(verbose_expected=True)
    session.send_command("AT", now=0.0, timeout=1.0)
    session.receive_data(b"AT\r0\r", now=0.1)  # verbose assumed: waits for an LF
    assert events(session) == []
    session.handle_timer(1.0)
    assert events(session) == [
        CommandCompleted(command="AT", lines=(), final="OK", completed_at=1.0)
    ]


def test_with_echo_off_a_line_equal_to_the_command_is_the_answer() -> None:
    """AT+CLAC lists every command with its AT prefix (27.007 §8.37), itself included."""
    got = run("AT+CLAC", b"\r\nAT+CGMI\r\nAT+CLAC\r\nAT+CSQ\r\n\r\nOK\r\n", echo=False)
    assert got[0] == [completed("AT+CLAC", ("AT+CGMI", "AT+CLAC", "AT+CSQ"))]
    got = run("AT+CLAC", b"AT+CLAC\r\r\nAT+CGMI\r\nAT+CLAC\r\n\r\nOK\r\n", echo=True)
    assert got[0] == [completed("AT+CLAC", ("AT+CGMI", "AT+CLAC"))]


def test_an_echo_after_echo_was_thought_off_is_still_the_echo() -> None:
    """A stale OK taken for a command's answer can make the session believe echo is off;
    the next echo (before any answer line) puts that right."""
    got = run("AT+CGMM", b"AT+CGMM\r\r\nEC200U\r\n\r\nOK\r\n", echo=False)
    assert got[0] == [completed("AT+CGMM", ("EC200U",))]
