"""Ctrl-C during ``quecemu scenario run``: one line and exit status 130, never a Python trace,
and no worker process left behind by a ``--modules`` run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scenario_tool.cli import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]
LONG = "name: long\nsteps:\n  - pause: 300\n"


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    return subprocess.Popen(
        [sys.executable, "-m", "emulator", "scenario", "run", str(scenario), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # A test runner started in the background ignores SIGINT; a terminal's job does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    out, err = process.communicate(timeout=60)
    return out.decode(), err.decode()


def test_ctrl_c_stops_a_run_with_one_line(tmp_path: Path) -> None:
    run = _start(tmp_path, "--transcript", str(tmp_path / "run.log"))
    assert run.stdout is not None
    seen = b""
    while b"\xe2\x96\xb6 long" not in seen:  # "▶ long": the scenario has started
        chunk = os.read(run.stdout.fileno(), 4096)
        assert chunk, "the run ended before its scenario started"
        seen += chunk
    out, err = _interrupt(run)
    assert run.returncode == EXIT_INTERRUPTED
    assert err.splitlines() == ["quecemu scenario run: interrupted"]
    assert "Traceback" not in out + err


def test_ctrl_c_stops_every_worker_of_a_modules_run(tmp_path: Path) -> None:
    run = _start(
        tmp_path, "--modules", "2", "--workers", "2", "--transcript", str(tmp_path / "run.log")
    )
    # Each worker writes its module's transcript as soon as its slice starts.
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"run.m{i:03d}.log").exists() for i in range(2)):
        assert run.poll() is None, "the run ended before its workers started"
        assert time.monotonic() < deadline, "the workers did not start within 60 s"
        time.sleep(0.05)
    out, err = _interrupt(run)
    assert run.returncode == EXIT_INTERRUPTED
    assert "quecemu scenario run: interrupted" in err.splitlines()
    assert "Traceback" not in out + err
    # The workers were in the run's session: none may outlive it. (multiprocessing's resource
    # tracker is no worker: it leaves by itself once the run's end closes its pipe.)
    assert _workers_in_session(run.pid) == []


def _workers_in_session(session: int) -> list[int]:
    """Worker processes (spawned by multiprocessing) of ``session`` that still run (an exited
    one that nobody has reaped yet, state Z, does not)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # it ended meanwhile
            continue
        state, sid = fields[0], int(fields[3])  # proc(5): state, ppid, pgrp, session
        if sid == session and state != "Z" and b"spawn_main" in command:
            workers.append(int(stat.parent.name))
    return workers
