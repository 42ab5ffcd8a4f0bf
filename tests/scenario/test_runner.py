"""The runner and ``quecemu scenario``: progress, transcript, JUnit, exit status, bad input,
unreachable servers and emulators, faults on the in-process module, an external emulator
over TCP, and server operations through the whole runner (against the fake Leshan)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import scenario_tool.runner as runner_module
from scenario_tool.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, run_files
from tests.scenario.fake_leshan import FakeLeshan

ROOT = Path(__file__).resolve().parents[2]
BASELINE_PROFILE = {
    "extends": "EC200U",
    "command_families": ["basic", "identity", "sim", "network", "pdp", "power", "clock"],
}


@pytest.fixture
def baseline(tmp_path: Path) -> str:
    """A profile without the LwM2M family: the AT-only scenarios need nothing more."""
    import json

    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(BASELINE_PROFILE))
    return str(path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


class Output:
    def __init__(self) -> None:
        self.progress: list[str] = []
        self.summary: list[str] = []
        self.errors: list[str] = []

    @property
    def text(self) -> str:
        return "\n".join(self.progress + self.summary)


def run(files: list[Path], out: Output, **options: object) -> int:
    return run_files(
        files,
        progress=out.progress.append,
        summary=out.summary.append,
        err=out.errors.append,
        **options,  # type: ignore[arg-type]
    )


PASSING = """\
    name: at-basics
    title: identity, signal, coverage
    steps:
      - send: ATI
        expect: [Quectel, EC200U, "Revision: EC200UCNAAR03A15M08", OK]
      - send: AT+CSQ
        match: '^\\+CSQ: 24,99$'
      - send: AT+CEREG=1
      - fault: network_cut
      - urc: '+CEREG: 2'
        within: 2
      - fault: network_restore
      - urc_match: '\\+CEREG: [15]'
        within: 2
      - fault: signal
        rssi: 9
      - send: AT+CSQ
        expect: ['+CSQ: 9,99', OK]
      - fault: pdp_reject
      - send: AT+QIACT=1
        match: '\\+CME ERROR'
      - fault: pdp_reject
        reject: false
      - send: AT+QIACT=1
      - send: AT+GSN
        expect: ["${imei}", OK]
"""


def test_a_passing_scenario_shows_progress_transcript_and_junit(
    tmp_path: Path, baseline: str
) -> None:
    scenario = write(tmp_path, "pass.yaml", PASSING)
    out = Output()
    transcript = tmp_path / "t.log"
    junit = tmp_path / "j.xml"
    status = run([scenario], out, profile=baseline, transcript=transcript, junit=junit)
    assert status == EXIT_OK, out.text
    steps = [line for line in out.progress if line.lstrip().startswith(("✓", "✗"))]
    assert len(steps) == 15 and all("✓" in line for line in steps)  # 14 steps + "passed"
    assert "1 scenarios: 1 passed, 0 failed, 0 errors, 0 skipped" in out.text
    assert f"transcript: {transcript}" in out.summary
    text = transcript.read_text()
    assert "at>>   ATI\\r" in text  # the AT bytes, CR shown
    assert "at<<   +CSQ: 9,99" in text
    assert "fault  fault signal rssi=9" in text
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "1" and root.get("failures") == "0"
    case = root.find("./testsuite/testcase")
    assert case is not None and case.get("name") == "at-basics identity, signal, coverage"
    assert case.get("classname") == tmp_path.name.replace(".", "_")
    system_out = case.findtext("system-out") or ""
    assert "at>>   AT+GSN" in system_out


def test_a_failing_step_says_expected_got_and_where(tmp_path: Path, baseline: str) -> None:
    scenario = write(
        tmp_path,
        "fail.yaml",
        """\
        name: wrong-revision
        steps:
          - send: AT
          - send: ATI
            expect: [Quectel, EC200U, "Revision: NOPE", OK]
          - send: AT+NEVER_REACHED
        """,
    )
    out = Output()
    transcript = tmp_path / "t.log"
    junit = tmp_path / "j.xml"
    status = run([scenario], out, profile=baseline, transcript=transcript, junit=junit)
    assert status == EXIT_FAILED
    assert "expected: Quectel | EC200U | Revision: NOPE | OK" in out.text
    assert "got:      Quectel | EC200U | Revision: EC200UCNAAR03A15M08 | OK" in out.text
    assert f"({scenario}:4)" in out.text  # the step's place in the file
    line = int(re.search(r"see transcript line (\d+)", out.text).group(1))  # type: ignore[union-attr]
    lines = transcript.read_text().splitlines()
    assert "FAIL" in lines[line - 1] and "Revision: NOPE" in lines[line - 1]
    assert "AT+NEVER_REACHED" not in transcript.read_text()  # stopped at the failure
    failure = ET.parse(junit).getroot().find("./testsuite/testcase/failure")
    assert failure is not None and "Revision: NOPE" in (failure.get("message") or "")


def test_a_urc_that_never_comes_is_a_bounded_failure(tmp_path: Path, baseline: str) -> None:
    scenario = write(
        tmp_path,
        "urc.yaml",
        """\
        name: no-urc
        steps:
          - urc: '+QLWURC: "ready","successfully",1000'
            within: 0.3
        """,
    )
    out = Output()
    status = run([scenario], out, profile=baseline, transcript=tmp_path / "t.log")
    assert status == EXIT_FAILED
    assert 'expected: \'+QLWURC: "ready","successfully",1000\' within 0.3 s' in out.text
    assert "got:      URCs" in out.text and "+QIND: PB DONE" in out.text


def test_bad_files_are_refused_before_anything_runs(tmp_path: Path, baseline: str) -> None:
    good = write(tmp_path, "good.yaml", "name: good\nsteps:\n  - send: AT\n")
    bad = write(tmp_path, "bad.yaml", "name: bad\nsteps:\n  - send: AT\n  - sned: AT\n")
    worse = write(tmp_path, "worse.yaml", "name: worse\nsteps:\n  - read: /3/0/0\n    code: x\n")
    out = Output()
    transcript = tmp_path / "t.log"
    status = run([good, bad, worse], out, profile=baseline, transcript=transcript)
    assert status == EXIT_BAD_INPUT
    assert out.errors[0].startswith(f"{bad}:4: step 2: unknown step 'sned'")
    assert out.errors[1].startswith(f"{worse}:4: ")
    assert not out.progress and not transcript.exists()  # nothing ran


def test_an_unreachable_leshan_is_one_clear_message(tmp_path: Path) -> None:
    scenario = write(tmp_path, "s.yaml", "name: s\nsteps:\n  - send: AT\n")
    out = Output()
    status = run(
        [scenario], out, server="leshan", leshan_url="http://127.0.0.1:9", transcript=tmp_path / "t"
    )
    assert status == EXIT_UNREACHABLE
    assert out.errors == [
        "quecemu scenario: Leshan http://127.0.0.1:9 is not reachable: Connection refused"
    ]


def test_an_unreachable_emulator_is_one_clear_message(tmp_path: Path) -> None:
    scenario = write(tmp_path, "s.yaml", "name: s\nsteps:\n  - send: AT\n")
    out = Output()
    status = run([scenario], out, port="127.0.0.1:9", transcript=tmp_path / "t")
    assert status == EXIT_UNREACHABLE
    assert len(out.errors) == 1 and "127.0.0.1:9 is not reachable" in out.errors[0]
    out = Output()
    status = run([scenario], out, port="/dev/nonexistent-tty", transcript=tmp_path / "t")
    assert status == EXIT_UNREACHABLE
    assert out.errors == [
        "quecemu scenario: cannot open the AT port /dev/nonexistent-tty: No such file or directory"
    ]


@pytest.fixture
def fake_leshan() -> Iterator[FakeLeshan]:
    server = FakeLeshan(2).start()
    server.register_on_watch = True
    server.notify_on_observe = 80
    yield server
    server.stop()


def test_server_steps_run_through_the_leshan_driver(
    tmp_path: Path, baseline: str, fake_leshan: FakeLeshan
) -> None:
    scenario = write(
        tmp_path,
        "ops.yaml",
        """\
        name: ops
        steps:
          - wait: registration
            lifetime: 86400
            objects: ['</3/0>', '/1/0']
          - read: /3/0/0
            expect: Quectel
          - read: /3/0
            expect: {0: Quectel, 9: 87}
          - write: /1/0/1
            value: 120
          - execute: /3/0/4
          - write_attributes: /3/0/9
            pmin: 1
            pmax: 2
          - observe: /3/0/9
            expect: 87
          - wait: notification
            path: /3/0/9
            expect: 80
          - discover: /3/0
            contains: ['</3/0/9>;pmin=1']
          - cancel_observe: /3/0/9
          - read: /4/0/0
            code: NOT_FOUND
        """,
    )
    out = Output()
    transcript = tmp_path / "t.log"
    status = run(
        [scenario],
        out,
        server="leshan",
        leshan_url=fake_leshan.url,
        profile=baseline,
        transcript=transcript,
    )
    assert status == EXIT_OK, out.text
    passed = [line for line in out.progress if line.lstrip().startswith("✓")]
    assert len(passed) == 12, out.text  # 11 steps and "passed"
    text = transcript.read_text()
    assert "srv    REGISTRATION ep=urn:imei:869339060001965 lt=86400 b=U lwm2m=1.0" in text
    assert "srv    NOTIFY ep=urn:imei:869339060001965 /3/0/9 = 80" in text
    assert "op     write /1/0/1 = 120 -> 2.04 CHANGED" in text
    write_request = next(
        r for r in fake_leshan.requests if r.method == "PUT" and r.path.endswith("/1/0/1")
    )
    assert write_request.json()["value"] == "120"


def test_what_a_set_up_cannot_do_is_skipped_with_the_reason(
    tmp_path: Path, baseline: str, fake_leshan: FakeLeshan
) -> None:
    restart = write(tmp_path, "restart.yaml", "name: r\nsteps:\n  - fault: server_restart\n")
    bootstrap = write(
        tmp_path,
        "bs.yaml",
        "name: b\nsteps:\n  - configure_bootstrap: x\n    server_uri: coap://h:1\n",
    )
    plain = write(tmp_path, "plain.yaml", "name: p\nsteps:\n  - send: AT\n")
    out = Output()
    junit = tmp_path / "j.xml"
    status = run(
        [restart, bootstrap, plain],
        out,
        server="leshan",
        leshan_url=fake_leshan.url,
        profile=baseline,
        transcript=tmp_path / "t.log",
        junit=junit,
    )
    assert status == EXIT_OK, out.text
    assert "- skipped: it stops and restarts the server" in out.text
    assert "no Leshan bootstrap server was given (--leshan-bs URL)" in out.text
    assert "3 scenarios: 1 passed, 0 failed, 0 errors, 2 skipped" in out.text
    root = ET.parse(junit).getroot()
    assert root.get("skipped") == "2"


def test_without_the_relay_the_module_talks_to_the_server_directly(tmp_path: Path) -> None:
    conformance = ROOT / "scenarios" / "conformance"
    out = Output()
    transcript = tmp_path / "t.log"
    status = run(
        [
            conformance / "int-101-initial-registration.yaml",
            conformance / "quecemu-lossy-network.yaml",
        ],
        out,
        relay=False,
        transcript=transcript,
    )
    assert status == EXIT_OK, out.text
    assert "skipped: it drops or delays datagrams, which needs the fault relay" in out.text
    text = transcript.read_text()
    assert "udp>" not in text  # nothing went through a relay
    setup = next(line for line in text.splitlines() if " setup " in line)
    assert " via " not in setup


def test_a_wrong_value_from_the_server_fails_the_step(
    tmp_path: Path, baseline: str, fake_leshan: FakeLeshan
) -> None:
    scenario = write(
        tmp_path,
        "value.yaml",
        """\
        name: value
        steps:
          - wait: registration
          - read: /3/0/0
            expect: Acme
        """,
    )
    out = Output()
    status = run(
        [scenario],
        out,
        server="leshan",
        leshan_url=fake_leshan.url,
        profile=baseline,
        transcript=tmp_path / "t.log",
    )
    assert status == EXIT_FAILED
    assert "expected: /3/0/0 = 'Acme'" in out.text
    assert "got:      'Quectel' (expected 'Acme', got 'Quectel')" in out.text


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_command_line_runs_checks_and_refuses(tmp_path: Path, baseline: str) -> None:
    scenario = write(tmp_path, "ok.yaml", "name: ok\ntitle: just AT\nsteps:\n  - send: AT\n")
    result = cli("scenario", "check", str(scenario))
    assert result.returncode == 0 and "ok.yaml: ok just AT (1 steps)" in result.stdout
    junit = tmp_path / "j.xml"
    result = cli(
        "scenario",
        "run",
        str(scenario),
        "--profile",
        baseline,
        "--junit",
        str(junit),
        "--transcript",
        str(tmp_path / "t.log"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓  1 send AT  → OK" in result.stdout and junit.exists()
    result = cli("scenario", "run", str(scenario), "--server", "leshan")
    env_url = os.environ.get("QUECEMU_LESHAN_URL")
    if not env_url:
        assert result.returncode == EXIT_BAD_INPUT
        assert "needs the Leshan URL" in result.stderr
    result = cli("scenario", "run", str(scenario), "--server", "embedded", "http://x")
    assert result.returncode == EXIT_BAD_INPUT and "takes no URL" in result.stderr
    # files after "--server KIND" are still files
    result = cli(
        "scenario",
        "run",
        "--profile",
        baseline,
        "--transcript",
        str(tmp_path / "t2.log"),
        "--server",
        "embedded",
        str(scenario),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = cli("scenario", "run", "--server", "embedded")
    assert result.returncode == EXIT_BAD_INPUT and "at least one scenario FILE" in result.stderr
    result = cli("scenario", "run", str(scenario), "--leshan-bs", "ftp://x")
    assert result.returncode == EXIT_BAD_INPUT and "not an http:// or https:// URL" in result.stderr


def _serve_tcp(*extra: str) -> tuple[subprocess.Popen[str], str]:
    """``quecemu serve --tcp 127.0.0.1:0`` and the address it printed once ready."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--tcp", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert serve.stdout is not None
    address = ""
    for line in serve.stdout:  # "module 0 EC200U IMEI ... tcp 127.0.0.1:40001", then "ready"
        found = re.search(r"tcp (\S+:\d+)", line)
        if found:
            address = found.group(1)
        if line.strip() == "ready":
            break
    if not address:
        serve.terminate()
        errors = serve.stderr.read() if serve.stderr is not None else ""
        raise AssertionError(f"quecemu serve printed no TCP address: {errors}")
    return serve, address


def test_an_external_emulator_over_tcp(tmp_path: Path, baseline: str) -> None:
    link = tmp_path / "ttyQ"
    serve, address = _serve_tcp("--profile", baseline, "--link", str(link))
    try:
        scenario = write(
            tmp_path,
            "external.yaml",
            """\
            name: external
            steps:
              - send: AT+GSN
                expect: ["${imei}", OK]
              - send: AT+CSQ
                match: '\\+CSQ: 24,99'
            """,
        )
        radio = write(
            tmp_path, "radio.yaml", "name: radio\nsteps:\n  - fault: signal\n    rssi: 3\n"
        )
        # The module through its pty (a device path) first: output of a TCP session would wait
        # in the pty's backlog for whoever opens it next.
        out = Output()
        status = run([scenario], out, port=str(link), transcript=tmp_path / "t2.log")
        assert status == EXIT_OK, out.text
        assert "at<<   +CSQ: 24,99" in (tmp_path / "t2.log").read_text()
        out = Output()
        status = run([scenario, radio], out, port=address, transcript=tmp_path / "t.log")
        assert status == EXIT_OK, out.text
        assert sum("✓" in line for line in out.progress) == 3, out.text  # 2 steps, "passed"
        assert "skipped: it changes the module's radio, which needs the in-process module" in (
            out.text
        )
    finally:
        serve.terminate()
        serve.wait(10)


def test_the_conformance_set_passes_twice_against_one_external_module(tmp_path: Path) -> None:
    # Each scenario starts on a rebooted module with factory settings: what the previous one
    # left (a registration, "startup",1 in NV, a PSK account) does not leak into the next.
    files = sorted((ROOT / "scenarios" / "conformance").glob("*.yaml"))
    serve, address = _serve_tcp()
    try:
        for attempt in (1, 2):
            out = Output()
            status = run(files, out, port=address, transcript=tmp_path / f"t{attempt}.log")
            assert status == EXIT_OK, f"run {attempt}:\n{out.text}\n{out.errors}"
            passed = re.search(r"(\d+) passed", "\n".join(out.summary))
            assert passed and int(passed.group(1)) >= 12, out.summary
        transcript = (tmp_path / "t2.log").read_text()
        assert "resetting the module at" in transcript
        assert 'at>>   AT+QLWCFG="reset"' in transcript
    finally:
        serve.terminate()
        serve.wait(10)


def test_a_port_another_client_holds_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve --tcp takes one client; a second is told who holds the port and closed. The
    # runner connects again until the boot time is over, then says what the emulator said.
    monkeypatch.setattr(runner_module, "BOOT_TIMEOUT", 1.5)
    scenario = write(tmp_path, "at.yaml", "name: at\nsteps:\n  - send: AT\n")
    serve, address = _serve_tcp()
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as holder:
            holder.sendall(b"AT\r")
            answer = b""
            while b"OK\r\n" not in answer:  # accepted: it holds the port
                answer += holder.recv(256)
            name = holder_name(holder)
            out = Output()
            status = run([scenario], out, port=address, transcript=tmp_path / "t.log")
        assert status != EXIT_OK
        assert "does not answer AT with OK (tried for 1.5 s); it closed the connection" in (
            out.text
        ), out.text
        assert f"is in use by {name}" in out.text, out.text
        out = Output()  # the holder let go: the port is ours
        assert run([scenario], out, port=address, transcript=tmp_path / "t2.log") == EXIT_OK
    finally:
        serve.terminate()
        serve.wait(10)


def holder_name(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def test_keep_state_runs_on_the_module_as_the_last_scenario_left_it(tmp_path: Path) -> None:
    registers = write(
        tmp_path,
        "registers.yaml",
        """\
        name: registers
        steps:
          - send: AT+QLWCFG="security",1,1000,"${server_uri}",0,3
          - send: AT+QLWCFG="server",1,300,1,60,86400,0,"U"
          - send: AT+QLWREG
          - urc: '+QLWURC: "ready","successfully",1000'
          - wait: registration
        """,
    )
    serve, address = _serve_tcp()
    try:
        out = Output()
        assert run([registers], out, port=address, transcript=tmp_path / "a.log") == EXIT_OK
        # Without the reset the module is still registered with the first run's server.
        out = Output()
        status = run(
            [registers], out, port=address, reset_module=False, transcript=tmp_path / "b.log"
        )
        assert status == EXIT_FAILED, out.text
        assert "+CME ERROR: 3" in out.text
        out = Output()
        assert run([registers], out, port=address, transcript=tmp_path / "c.log") == EXIT_OK
    finally:
        serve.terminate()
        serve.wait(10)


def test_every_event_of_the_embedded_server_reaches_the_scenario_events() -> None:
    # A new server event without a translation would vanish from waits and the transcript.
    import typing

    from emulator.server import events as server_events
    from scenario_tool.embedded import _TRANSLATIONS

    assert set(_TRANSLATIONS) == set(typing.get_args(server_events.ServerEvent))


def _fake_module_class() -> type[Any]:
    """tests/client_api's FakeModule (a scripted module on a real pty that can vanish and come
    back), loaded by path: that folder is not a package."""
    import importlib.util

    path = ROOT / "tests" / "client_api" / "capi_fake.py"
    spec = importlib.util.spec_from_file_location("capi_fake_for_scenarios", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakeModule  # type: ignore[no-any-return]


def test_a_usb_port_that_re_enumerates_on_the_reset_is_opened_again(tmp_path: Path) -> None:
    # On hardware a USB module's AT port goes away with AT+CFUN=1,1 and comes back (a new
    # device behind the same path), without RDY on that port.
    fake_module = _fake_module_class()
    fake = fake_module(link=tmp_path / "ttyUSB2")
    imei = "869339060001965"
    try:
        answers = {
            'AT+QLWCFG="startup",0': b"\r\nOK\r\n",
            "AT&F": b"\r\nOK\r\n",
            'AT+QLWCFG="reset"': b"\r\nOK\r\n",
            "AT+GSN": f"\r\n{imei}\r\n\r\nOK\r\n".encode(),
            "AT+CIMI": b"\r\n460001234567890\r\n\r\nOK\r\n",
        }
        for command, reply in answers.items():
            fake.answer(command, reply)

        def reset(line: str) -> None:
            fake.send(b"\r\nOK\r\n")
            fake.vanish()
            fake.come_back()

        fake.answer("AT+CFUN=1,1", reset)
        scenario = write(
            tmp_path,
            "gsn.yaml",
            'name: gsn\nsteps:\n  - send: AT+GSN\n    expect: ["${imei}", OK]\n',
        )
        for attempt in (1, 2):
            out = Output()
            log = tmp_path / f"t{attempt}.log"
            status = run([scenario], out, port=str(tmp_path / "ttyUSB2"), transcript=log)
            assert status == EXIT_OK, f"{out.text}\n{out.errors}\n{log.read_text()}"
            # The reset went on as soon as the port was back: no wait for a lost OK.
            went_on = re.search(r"^ *(\d+\.\d+) at>> +AT&F", log.read_text(), re.MULTILINE)
            assert went_on is not None and float(went_on.group(1)) < 5.0, log.read_text()
    finally:
        fake.close()
