"""``quecemu scenario run --modules N [--workers W]``: a scenario on N in-process modules at
once, each with its own IMEI, server, relay and transcript, spread over W worker processes,
one JUnit case per scenario and module in a stable order."""

from __future__ import annotations

import multiprocessing
import os
import signal
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.module.profile import load_profile
from emulator.module.state import derive_imei
from scenario_tool.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main, run_files
from scenario_tool.fleet import module_slices

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "scenarios" / "conformance"


def test_registration_and_a_read_on_three_modules_in_two_workers(tmp_path: Path) -> None:
    files = [
        CONFORMANCE / "int-101-initial-registration.yaml",
        CONFORMANCE / "int-201-querying-basic-information-plain-text.yaml",
    ]
    lines: list[str] = []
    status = run_files(
        files,
        modules=3,
        workers=2,  # modules 0-1 in one process, module 2 in the other
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
    # Merged from both workers in scenario, module order, whichever finished first.
    assert [name.partition("]")[0] + "]" for name in names] == [
        f"{scenario} [module {index} {imei}]"
        for scenario in ("LightweightM2M-1.0-int-101", "LightweightM2M-1.0-int-201")
        for index, imei in enumerate(imeis)
    ]
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
        workers=1,  # both in this process
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


def test_bad_worker_counts_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(CONFORMANCE / "int-101-initial-registration.yaml")
    with pytest.raises(SystemExit) as exited:
        main(["run", scenario, "--modules", "2", "--workers", "0"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "'0' is not a positive number" in capsys.readouterr().err
    assert main(["run", scenario, "--workers", "2"]) == EXIT_BAD_INPUT
    assert "--workers spreads the modules of --modules N" in capsys.readouterr().err


def test_modules_are_sliced_evenly_and_in_order() -> None:
    imeis = [str(index) for index in range(7)]
    paths = [Path(f"run.m{index:03d}.log") for index in range(7)]
    slices = module_slices(imeis, paths, 3)
    assert [(part.first, part.last) for part in slices] == [(0, 2), (3, 4), (5, 6)]
    assert [imei for part in slices for imei in part.imeis] == imeis
    assert [path for part in slices for path in part.transcripts] == paths
    assert len(module_slices(imeis[:2], paths[:2], 8)) == 2  # no worker without a module


def test_a_worker_that_dies_ends_the_run_with_a_reason(tmp_path: Path) -> None:
    """A worker killed mid-run (the kernel's OOM killer, say) ends the run at once with exit
    status 1 and names the modules it held; the other worker is stopped, not left behind."""
    scenario = tmp_path / "long.yaml"
    scenario.write_text("name: long\nsteps:\n  - pause: 300\n")
    killed = threading.Event()

    def kill_the_second_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed.is_set():
            for child in multiprocessing.active_children():
                if child.name == "quecemu-scenario-worker-1" and child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.set()
                    return
            killed.wait(0.05)  # the worker appears once the run has spawned it

    killer = threading.Thread(target=kill_the_second_worker, daemon=True)
    killer.start()
    lines: list[str] = []
    status = run_files(
        [scenario],
        modules=2,
        workers=2,
        transcript=tmp_path / "run.log",
        progress=lines.append,
        summary=lines.append,
        err=lines.append,
    )
    killer.join()
    assert killed.is_set()
    assert status == EXIT_FAILED
    assert (
        "quecemu scenario run: the worker of modules 1-1 ended unexpectedly (exit code -9)"
        in lines
    )
    assert not [
        child
        for child in multiprocessing.active_children()
        if child.name.startswith("quecemu-scenario-worker-")
    ]
