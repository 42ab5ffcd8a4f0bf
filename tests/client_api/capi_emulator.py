"""The real emulator as a subprocess (``quecemu serve --link``), and an LwM2M server peer.

Both are waited for on the readiness line they print, never on a sleep.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

START_LIMIT = 30.0  # seconds for a process to print its readiness line
PEERS = Path(__file__).resolve().parents[1] / "peers"
BASELINE_FAMILIES = ["basic", "identity", "sim", "network", "pdp", "power", "clock"]


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


class Process:
    """A child process whose stdout is read line by line on a thread."""

    def __init__(self, argv: list[str], cwd: Path | None = None) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=_lines, args=(self.proc.stdout, self.lines), daemon=True).start()

    def wait_line(self, predicate: Any, limit: float = START_LIMIT) -> str:
        """The first stdout line for which ``predicate(line)`` is true."""
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=limit)
            except queue.Empty:
                raise AssertionError(f"{self.argv[:3]}: nothing after {seen!r}") from None
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"{self.argv[:3]} ended: {seen!r} {err}")
            seen.append(line)
            if predicate(line):
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class Emulator:
    """``quecemu serve --link <dir>/ttyQ0``; ``link`` is the port the host opens."""

    def __init__(self, directory: Path, *options: str, lwm2m: bool = True) -> None:
        self.directory = directory
        self.link = directory / "ttyQ0"
        self.options = list(options)
        if not lwm2m and "--profile" not in self.options:
            profile = directory / "baseline-profile.json"
            profile.write_text(
                json.dumps({"extends": "EC200U", "command_families": BASELINE_FAMILIES})
            )
            self.options += ["--profile", str(profile)]
        self.process: Process | None = None
        self.start()

    def start(self) -> None:
        argv = [sys.executable, "-m", "emulator", "serve", "--link", str(self.link)]
        self.process = Process(argv + self.options)
        self.module_line = self.process.wait_line(lambda line: line.startswith("module 0"))
        self.process.wait_line(lambda line: line == "ready")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class NodeServer:
    """``tests/peers/lwm2m_server.js``: lwm2m-node-lib's server on 127.0.0.1."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise AssertionError("node is not installed (make set-up installs it)")
        self.process = Process([node, str(PEERS / "lwm2m_server.js"), "0"], cwd=PEERS)
        ready = json.loads(self.process.wait_line(lambda line: '"ready"' in line))
        self.port = int(ready["port"])
        self.url = f"coap://127.0.0.1:{self.port}"

    def wait_event(self, event: str, limit: float = START_LIMIT) -> dict[str, Any]:
        line = self.process.wait_line(
            lambda text: text.startswith("{") and json.loads(text).get("event") == event, limit
        )
        found: dict[str, Any] = json.loads(line)
        return found

    def stop(self) -> None:
        self.process.stop()
