"""``quecemu serve --mqtt`` processes for the control-plane tests (Debian's mosquitto on
loopback is tests.datastack.harness.Mosquitto)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

READY_TIMEOUT = 60.0
MODULE_LINE = re.compile(r"module (\d+) \S+ IMEI (\d{15}) (?:tcp 127\.0\.0\.1:(\d+)|headless)")
ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    """``python -m emulator serve --tcp 127.0.0.1:0 --mqtt URL ...`` until ``ready``."""

    def __init__(
        self, broker_port: int, *extra: str, count: int = 1, headless: bool = False
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            *(["--headless"] if headless else ["--tcp", "127.0.0.1:0"]),
            "--count",
            str(count),
            "--mqtt",
            f"mqtt://127.0.0.1:{broker_port}",
            *extra,
        ]
        self.folder = tempfile.TemporaryDirectory(prefix="quecemu-serve-")
        self.errors = Path(self.folder.name) / "stderr.txt"
        self.process: subprocess.Popen[str] | None = None
        self.modules: dict[str, int | None] = {}  # IMEI -> TCP port (None: headless)

    def start(self) -> ServeProcess:
        with self.errors.open("w") as errors:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.args,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        assert self.process.stdout is not None
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:  # keep reading: a full pipe must never block it
                lines.append(line)
                if line.strip() == "ready":
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_TIMEOUT) or not any(line.strip() == "ready" for line in lines):
            self.stop()
            raise AssertionError(f"serve did not get ready: {''.join(lines)}{self.stderr()}")
        for line in lines:
            match = MODULE_LINE.match(line)
            if match:
                port = match.group(3)
                self.modules[match.group(2)] = int(port) if port else None
        return self

    def tcp_port(self, imei: str) -> int:
        port = self.modules[imei]
        assert port is not None, f"module {imei} is headless"
        return port

    def stderr(self) -> str:
        return self.errors.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, so the broker publishes the last will."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self.folder.cleanup()
