"""The AT engine byte by byte: framing, echo, result codes, errors and URC placement.

Every exchange is fed whole, byte by byte and split at random points; the bytes on the
port must be the same each time.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.support import FakeClockModule, baseline_profile, chunkings


def exchange(line: bytes, *, setup: bytes = b"") -> list[tuple[str, bytes]]:
    results = []
    for name, chunks in chunkings(line):
        m = FakeClockModule()
        if setup:
            m.send(setup)
        results.append((name, m.send(chunks)))
    return results


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"AT\r", b"AT\r\r\nOK\r\n"),
        (b"at\r", b"at\r\r\nOK\r\n"),
        (b"AT\r\n", b"AT\r\r\nOK\r\n"),  # LF after CR is ignored (V.250 S4)
        (b"ATI\r", b"ATI\r\r\nQuectel\r\nEC200U\r\nRevision: EC200UCNAAR03A15M08\r\n\r\nOK\r\n"),
        (b"AT+CSQ;+CREG?\r", b"AT+CSQ;+CREG?\r\r\n+CSQ: 24,99\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        (b"AT+CMEE?\r", b"AT+CMEE?\r\r\n+CMEE: 1\r\n\r\nOK\r\n"),
        (b"AT+CMEE=?\r", b"AT+CMEE=?\r\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"),
        (b"AT+XYZ\r", b"AT+XYZ\r\r\nERROR\r\n"),
        (b"AT+CSQ?\r", b"AT+CSQ?\r\r\nERROR\r\n"),  # a form the command does not have
        (b"AT+CMEE=3\r", b"AT+CMEE=3\r\r\n+CME ERROR: 50\r\n"),
        (b"AT+CMEE=1,2\r", b"AT+CMEE=1,2\r\r\n+CME ERROR: 50\r\n"),
        (b'AT+CMEE="1\r', b'AT+CMEE="1\r\r\nERROR\r\n'),  # unbalanced quote
        (b"AT+CMEE=abc\r", b"AT+CMEE=abc\r\r\nERROR\r\n"),  # unquoted word
        (b"hello\r", b"hello\r\r\nERROR\r\n"),
        (b"\r", b"\r"),  # an empty line gets no answer
    ],
)
def test_exchange_is_byte_exact_however_it_is_split(line: bytes, expected: bytes) -> None:
    for name, got in exchange(line):
        assert got == expected, name


def test_echo_off_verbose_off_and_quiet() -> None:
    m = FakeClockModule()
    assert m.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"  # echo stops after this line
    assert m.send(b"AT\r") == b"\r\nOK\r\n"
    assert m.send(b"ATV0\r") == b"0\r"
    assert m.send(b"AT+CSQ\r") == b"+CSQ: 24,99\r\n0\r"
    assert m.send(b"AT+NOPE\r") == b"4\r"
    assert m.send(b"ATV1Q1\r") == b""  # result codes suppressed
    assert m.send(b"AT+CSQ\r") == b"\r\n+CSQ: 24,99\r\n"
    assert m.send(b"ATQ0\r") == b"\r\nOK\r\n"


def test_cmee_modes_render_the_same_error_three_ways() -> None:
    m = FakeClockModule()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CFUN=7\r") == b"\r\n+CME ERROR: 50\r\n"
    m.send(b"AT+CMEE=2\r")
    assert m.send(b"AT+CFUN=7\r") == b"\r\n+CME ERROR: Incorrect parameters\r\n"
    m.send(b"AT+CMEE=0\r")
    assert m.send(b"AT+CFUN=7\r") == b"\r\nERROR\r\n"


def test_error_stops_the_rest_of_the_line() -> None:
    m = FakeClockModule()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CMEE=9;E1\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT\r") == b"\r\nOK\r\n"  # E1 did not run


def test_settings_saved_by_and_w_survive_atz_and_at_f_restores_factory() -> None:
    m = FakeClockModule()
    m.send(b"ATE0;+CMEE=2;&W\r")
    m.send(b"ATE1;+CMEE=0\r")
    assert m.send(b"ATZ\r") == b"ATZ\r\r\nOK\r\n"  # ATZ runs with echo still on
    assert m.send(b"AT+CMEE?\r") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
    assert m.send(b"AT&F\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CMEE?\r") == b"AT+CMEE?\r\r\n+CMEE: 1\r\n\r\nOK\r\n"


def test_overlong_line_is_refused_and_the_engine_resynchronises() -> None:
    m = FakeClockModule()
    m.send(b"ATE0\r")
    long_line = b'AT+CGDCONT=1,"IP","' + b"x" * 2000 + b'"\r'
    assert m.send(long_line) == b"\r\nERROR\r\n"  # limit: 1024 characters (profile)
    assert m.send(b"AT\r") == b"\r\nOK\r\n"


@pytest.mark.parametrize("bad", [b"AT\x00\r", b"AT\xff+CSQ\r", b"AT+C\x01SQ\r", "ATé\r".encode()])
def test_nul_and_non_ascii_bytes_get_error_then_resync(bad: bytes) -> None:
    for name, chunks in chunkings(bad + b"AT\r"):
        m = FakeClockModule()
        m.send(b"ATE0\r")
        assert m.send(chunks) == b"\r\nERROR\r\n\r\nOK\r\n", name


def test_backspace_edits_and_a_slash_repeats() -> None:
    m = FakeClockModule()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CSX\x08Q\r") == b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"
    assert m.send(b"A/") == b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"  # V.250 §5.2.4, no CR needed


def test_urc_raised_by_a_command_comes_after_its_final_result() -> None:
    m = FakeClockModule()
    m.send(b"ATE0;+CEREG=1\r")
    assert m.send(b"AT+CFUN=4\r") == b"\r\nOK\r\n\r\n+CEREG: 0\r\n"


def test_urc_is_held_while_a_slow_command_runs() -> None:
    profile = baseline_profile(latency={"+COPS": 0.5})
    m = FakeClockModule(profile)
    m.send(b"ATE0;+CEREG=1\r")
    assert m.send(b"AT+COPS?\r") == b""  # answer due in 0.5 s
    m.module.set_coverage(False, m.now + 0.1)
    m.advance(0.2)
    assert m.take() == b""  # the URC waits for the final result code
    m.advance(0.4)
    assert m.take() == b'\r\n+COPS: 0,0,"CHINA MOBILE",7\r\n\r\nOK\r\n\r\n+CEREG: 2\r\n'


def test_input_during_a_slow_command_is_answered_after_it() -> None:
    m = FakeClockModule(baseline_profile(latency={"+COPS": 0.5}))
    m.send(b"ATE0\r")
    assert m.send(b"AT+COPS?\rAT\r") == b""
    m.advance(1.0)
    assert m.take() == b'\r\n+COPS: 0,0,"CHINA MOBILE",7\r\n\r\nOK\r\n\r\nOK\r\n'


def test_idle_urc_is_delivered_at_once() -> None:
    m = FakeClockModule()
    m.send(b"AT+CEREG=2\r")
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CEREG: 2\r\n"


def test_fault_switch_delivers_pending_urcs_right_before_the_next_echo() -> None:
    m = FakeClockModule()
    m.send(b"AT+CEREG=1\r")
    m.module.engine.urc_before_echo = True
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b""
    assert m.send(b"AT\r") == b"\r\n+CEREG: 2\r\nAT\r\r\nOK\r\n"


def test_handler_bug_gives_error_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    m = FakeClockModule()
    from emulator.at.parser import Form

    def broken(ctx: object, args: object) -> None:
        raise RuntimeError("boom")

    m.module.engine.registry.add("+QBROKEN", Form.EXEC, broken)
    assert m.send(b"AT+QBROKEN\r") == b"AT+QBROKEN\r\r\nERROR\r\n"
    assert m.send(b"AT\r") == b"AT\r\r\nOK\r\n"
    assert "boom" in caplog.text


def test_profile_command_set_restricts_commands() -> None:
    profile = dataclasses.replace(baseline_profile(), commands=("E", "+CSQ"))
    m = FakeClockModule(profile)
    assert m.send(b"AT+CSQ\r").endswith(b"OK\r\n")
    assert m.send(b"ATI\r") == b"ATI\r\r\nERROR\r\n"


def test_discarding_a_partial_line_starts_the_next_host_clean() -> None:
    m = FakeClockModule()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CGD") == b""  # the previous host went away mid-command
    m.module.engine.discard_partial_line()
    assert m.send(b"AT\r") == b"\r\nOK\r\n"
