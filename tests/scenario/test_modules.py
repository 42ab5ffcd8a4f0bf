"""``quecemu scenario run --modules N``: a scenario on N in-process modules at once, each with
its own IMEI, server, relay and transcript, one JUnit case per scenario and module."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.module.profile import load_profile
from emulator.module.state import derive_imei
from scenario_tool.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main, run_files

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "scenarios" / "conformance"


def test_registration_and_a_read_on_three_modules_at_once(tmp_path: Path) -> None:
    files = [
        CONFORMANCE / "int-101-initial-registration.yaml",
        CONFORMANCE / "int-201-querying-basic-information-plain-text.yaml",
    ]
    lines: list[str] = []
    status = run_files(
        files,
        modules=3,
        junit=tmp_path / "junit.xml",
        transcript=tmp_path / "run.log",
        progress=lines.append,
        summary=lines.append,
        err=lines.append,
    )
    assert status == EXIT_OK, "\n".join(lines)
    assert "2 scenarios x 3 modules: 6 passed, 0 failed, 0 errors, 0 skipped" in "\n".join(lines)
    first = load_profile("EC200U").identity.imei
    imeis = [derive_imei(first, index) for index in range(3)]
    for index, imei in enumerate(imeis):  # each module registered under its own endpoint
        transcript = (tmp_path / f"run.m{index:03d}.log").read_text()
        assert f"endpoint urn:imei:{imei}" in transcript
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "6" and suite.get("failures") == "0"
    names = [case.get("name", "") for case in suite.iter("testcase")]
    for imei in imeis:
        assert sum(f"{imei}]" in name for name in names) == 2
    assert all(case.find("system-out") is not None for case in suite.iter("testcase"))


def test_a_failure_on_some_modules_is_reported_per_module(tmp_path: Path) -> None:
    first = load_profile("EC200U").identity.imei
    scenario = tmp_path / "imei.yaml"
    scenario.write_text(
        textwrap.dedent(
            f"""\
            name: only-module-0
            steps:
              - send: AT+CGSN
                expect: ['{first}', OK]
            """
        )
    )
    lines: list[str] = []
    status = run_files(
        [scenario],
        modules=2,
        junit=tmp_path / "junit.xml",
        transcript=tmp_path / "run.log",
        progress=lines.append,
        summary=lines.append,
        err=lines.append,
    )
    assert status == EXIT_FAILED
    text = "\n".join(lines)
    assert f"✗ module 1 ({derive_imei(first, 1)})" in text
    assert "1/2 modules passed" in text
    cases = list(ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"))
    outcomes = {case.get("name"): case.find("failure") is not None for case in cases}
    assert outcomes == {
        f"only-module-0 [module 0 {first}]": False,
        f"only-module-0 [module 1 {derive_imei(first, 1)}]": True,
    }


def test_bad_module_counts_and_an_external_port_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = CONFORMANCE / "int-101-initial-registration.yaml"
    args = ["run", str(scenario), "--modules", "2", "--port", "127.0.0.1:1"]
    assert main([*args, "--transcript", str(tmp_path / "t.log")]) == EXIT_BAD_INPUT
    assert "--modules runs in-process modules" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["run", str(scenario), "--modules", "0"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "'0' is not a positive number" in capsys.readouterr().err
