"""``quecemu serve`` as a user runs it: a child process, its printed lines, its ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from emulator.module.state import is_valid_imei
from tests.transport.helpers import (
    AtPort,
    ServeProcess,
    write_test_profile,
)

TIMEOUT = 10.0


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_test_profile(tmp_path)


def serve(tmp_path: Path, *args: str | Path) -> ServeProcess:
    return ServeProcess("serve", *args, stderr_path=tmp_path / f"stderr-{time.monotonic_ns()}")


def test_serve_answers_on_its_link_and_stops_cleanly(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        (module,) = proc.wait_ready()
        assert module.index == 0 and module.model == "EC200U"
        assert module.imei == "869339060001965" and module.link == str(link)
        assert module.pty is not None and os.readlink(link) == module.pty
        with AtPort(str(link)) as at:
            assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"
        assert proc.stop(signal.SIGTERM) == 0
    assert not os.path.lexists(link)


def test_sigint_stops_cleanly_too(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        proc.wait_ready()
        assert proc.stop(signal.SIGINT) == 0
        assert "Traceback" not in proc.stderr()
    assert not os.path.lexists(link)


def test_a_terminal_tool_talks_to_it(tmp_path: Path, profile: Path) -> None:
    """As a user would: socat on the link, raw, no local echo."""
    socat = shutil.which("socat")
    assert socat is not None, "socat is installed on these machines (preamble)"
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        proc.wait_ready()
        # socat exits 0.5 s after stdin ends (-t), having printed what the port said.
        result = subprocess.run(
            [socat, "-t", "0.5", "-", f"{link},raw,echo=0"],
            input=b"ATI\r",
            capture_output=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(b"ATI\r\r\nQuectel\r\nEC200U\r\nRevision: ")
        assert result.stdout.endswith(b"\r\n\r\nOK\r\n")
        assert proc.stop() == 0


def test_count_gives_that_many_modules_with_their_own_imeis(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--count", "3") as proc:
        modules = proc.wait_ready()
        assert [m.index for m in modules] == [0, 1, 2]
        assert [m.link for m in modules] == [str(tmp_path / f"ttyQ{i}") for i in range(3)]
        imeis = [m.imei for m in modules]
        assert len(set(imeis)) == 3 and all(is_valid_imei(i) for i in imeis)
        assert len({m.pty for m in modules}) == 3
        for module in modules:
            with AtPort(module.device) as at:
                assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"
                answer = at.command(b"AT+GSN\r")
                assert answer == f"AT+GSN\r\r\n{module.imei}\r\n\r\nOK\r\n".encode()
        assert proc.stop() == 0
    assert not any(os.path.lexists(tmp_path / f"ttyQ{i}") for i in range(3))


def test_imei_option_sets_module_zero_and_derives_the_rest(tmp_path: Path, profile: Path) -> None:
    with serve(tmp_path, "--profile", profile, "--imei", "490154203237518", "--count", "2") as p:
        modules = p.wait_ready()
        assert modules[0].imei == "490154203237518"
        assert modules[1].imei[:14] == "49015420323752" and is_valid_imei(modules[1].imei)
        assert p.stop() == 0


def test_state_dir_keeps_at_w_settings_across_restarts(tmp_path: Path, profile: Path) -> None:
    state = tmp_path / "state"
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--state-dir", state) as proc:
        (module,) = proc.wait_ready()
        with AtPort(str(link)) as at:
            assert at.command(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
            assert at.command(b"AT&W\r") == b"\r\nOK\r\n"
        assert proc.stop() == 0
    assert (state / f"{module.imei}.json").exists()
    with serve(tmp_path, "--profile", profile, "--link", link, "--state-dir", state) as proc:
        proc.wait_ready()
        with AtPort(str(link)) as at:
            assert at.command(b"AT\r") == b"\r\nOK\r\n"  # no echo: ATE0 was saved
        assert proc.stop() == 0


def test_a_corrupt_state_file_warns_and_starts_on_defaults(tmp_path: Path, profile: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "869339060001965.json").write_text('{"engine": {"echo": 0')  # cut short
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--state-dir", state) as proc:
        proc.wait_ready()
        assert "quecemu: warning: module 0: state file" in proc.stderr()
        assert "corrupt" in proc.stderr()
        with AtPort(str(link)) as at:
            assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"  # factory default: echo on
        assert proc.stop() == 0
    assert any(p.name.startswith("869339060001965.json.corrupt-") for p in state.iterdir())


def test_trace_records_what_crossed_the_port(tmp_path: Path, profile: Path) -> None:
    trace = tmp_path / "trace.log"
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--trace", trace) as proc:
        (module,) = proc.wait_ready()
        with AtPort(str(link)) as at:
            at.command(b"AT\r")
        assert proc.stop() == 0
    lines = trace.read_text().splitlines()
    prefix = rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{6}}Z \+\d+\.\d{{6}} 0 {module.imei} "
    assert any(re.match(prefix + r'RX "AT\\r"$', line) for line in lines), lines
    assert any(re.match(prefix + r'TX "AT\\r\\r\\nOK\\r\\n"$', line) for line in lines), lines
    assert any(re.match(prefix + r"OPEN$", line) for line in lines), lines
    # Nobody had the port open while the module booted: its boot URCs were lost, and the
    # trace says so instead of claiming they were sent.
    opened = next(i for i, line in enumerate(lines) if line.endswith(" OPEN"))
    before = lines[:opened]
    assert any(re.match(prefix + r'DROP ".*RDY', line) for line in before), lines
    assert not any(" TX " in line for line in before), lines


def test_a_live_link_is_never_taken_over(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as first:
        (module,) = first.wait_ready()
        with serve(tmp_path, "--profile", profile, "--link", link) as second:
            assert second.wait_exit() == 1
            assert second.read_line(TIMEOUT) is None  # no module line, no "ready"
            message = second.stderr()
        assert f"cannot use link {link}: in use by another quecemu serve (pid {first.pid})" in (
            message
        ), message
        assert "Traceback" not in message
        # The first module keeps its link, and answers on it.
        assert os.readlink(link) == module.pty
        with AtPort(str(link)) as at:
            assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"
        assert first.stop() == 0
    assert not os.path.lexists(link)


def test_a_link_left_by_a_killed_run_is_taken(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as crashed:
        crashed.wait_ready()
        crashed.stop(signal.SIGKILL)  # no clean-up: the link stays, its lock dies with it
    assert os.path.islink(link)
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        (module,) = proc.wait_ready()
        assert os.readlink(link) == module.pty
        with AtPort(str(link)) as at:
            assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"
        assert proc.stop() == 0
    assert not os.path.lexists(link)


@pytest.mark.parametrize("where", ["missing", "file"])
def test_a_link_in_a_directory_that_is_not_there_is_a_clear_error(
    tmp_path: Path, profile: Path, where: str
) -> None:
    parent = tmp_path / "nonexistent" / "dir"
    if where == "file":
        parent = tmp_path / "plain-file"
        parent.write_text("")
    link = parent / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        assert proc.wait_exit() == 1
        message = proc.stderr()
    what = "does not exist" if where == "missing" else "is not a directory"
    assert f"quecemu: error: cannot use link {link}: directory {parent} {what}" in message
    assert "Traceback" not in message and "/dev/pts" not in message


def test_tcp_port_zero_reports_the_address_it_got(tmp_path: Path, profile: Path) -> None:
    with serve(tmp_path, "--profile", profile, "--tcp", "127.0.0.1:0", "--count", "2") as proc:
        modules = proc.wait_ready()
        assert all(m.pty is None and m.tcp is not None for m in modules)
        for module in modules:
            assert module.tcp is not None
            with socket.create_connection(module.tcp, timeout=TIMEOUT) as sock:
                sock.sendall(b"AT\r")
                answer = b""
                while not answer.endswith(b"OK\r\n"):
                    chunk = sock.recv(100)
                    assert chunk, answer
                    answer += chunk
                assert answer == b"AT\r\r\nOK\r\n"
        assert proc.stop() == 0


def test_tcp_ports_are_consecutive_from_the_given_one(tmp_path: Path, profile: Path) -> None:
    with socket.socket() as probe:  # a free port, released for serve to take
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    if first > 65000:
        pytest.skip("the free port is too close to 65535 for three in a row")
    link = tmp_path / "ttyQ"
    args = ("--profile", profile, "--tcp", f"127.0.0.1:{first}", "--count", "3", "--link", link)
    with serve(tmp_path, *args) as proc:
        try:
            modules = proc.wait_ready()
        except AssertionError as exc:
            if "cannot listen" in str(exc):
                pytest.skip(f"another process took a port in {first}-{first + 2}")
            raise
        assert [m.tcp for m in modules] == [("127.0.0.1", first + i) for i in range(3)]
        assert all(m.pty is not None for m in modules)  # --link keeps the ptys
        assert proc.stop() == 0


def test_baud_paces_the_answer(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--baud", "1200") as proc:
        proc.wait_ready()
        with AtPort(str(link)) as at:
            start = time.monotonic()
            assert at.command(b"AT\r") == b"AT\r\r\nOK\r\n"
            elapsed = time.monotonic() - start
        assert elapsed >= 9 * 10 / 1200 - 0.005  # 9 bytes at 120 bytes/s: 75 ms
        assert proc.stop() == 0


def test_a_regular_file_at_the_link_path_is_an_error(tmp_path: Path, profile: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with serve(tmp_path, "--profile", profile, "--link", path) as proc:
        assert proc.wait_exit() == 1
        assert "not a symlink" in proc.stderr() and "Traceback" not in proc.stderr()
    assert path.read_text() == "mine"


def test_state_file_is_json_named_after_the_imei(tmp_path: Path, profile: Path) -> None:
    state = tmp_path / "state"
    with serve(tmp_path, "--profile", profile, "--state-dir", state, "--count", "2") as proc:
        modules = proc.wait_ready()
        for module in modules:
            with AtPort(module.device) as at:
                at.command(b"AT+CMEE=2;&W\r")
        assert proc.stop() == 0
    for module in modules:
        saved = json.loads((state / f"{module.imei}.json").read_text())
        assert saved["engine"]["cmee"] == 2


def test_urc_before_echo_holds_urcs_until_the_next_command(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link, "--urc-before-echo") as proc:
        proc.wait_ready()
        with AtPort(str(link)) as at:
            # The boot URCs were held, not sent to nobody: they come just before the echo.
            answer = at.command(b"AT\r")
        assert answer.startswith(b"\r\nRDY\r\n") and answer.endswith(
            b"+QIND: PB DONE\r\nAT\r\r\nOK\r\n"
        )
        assert proc.stop() == 0


def test_a_new_host_does_not_inherit_a_half_typed_command(tmp_path: Path, profile: Path) -> None:
    link = tmp_path / "ttyQ"
    with serve(tmp_path, "--profile", profile, "--link", link) as proc:
        proc.wait_ready()
        with AtPort(str(link)) as first:
            # The echo proves the module took the bytes in before this host went away.
            assert first.command(b"AT+CGD", until=b"AT+CGD") == b"AT+CGD"
        with AtPort(str(link)) as second:
            assert second.command(b"AT\r") == b"AT\r\r\nOK\r\n"
        assert proc.stop(signal.SIGTERM) == 0
