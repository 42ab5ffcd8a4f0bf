"""Shared by the transport and CLI tests: a profile that loads today, a ``quecemu serve``
child process read line by line with deadlines, and a pyserial AT client."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import serial

REPO = Path(__file__).resolve().parents[2]


def write_test_profile(directory: Path, model: str = "EC200U") -> Path:
    """A profile file that extends a built-in model, as a user's ``--profile`` does."""
    path = directory / f"test-{model}.json"
    path.write_text(json.dumps({"extends": model}), encoding="utf-8")
    return path


# --------------------------------------------------------------------- serve child
@dataclasses.dataclass(frozen=True, kw_only=True)
class ModuleLine:
    """One ``module ...`` line of ``quecemu serve``."""

    index: int
    model: str
    imei: str
    pty: str | None = None
    link: str | None = None
    tcp: tuple[str, int] | None = None
    headless: bool = False

    @property
    def device(self) -> str:
        """Where a serial tool should open it: the link if any, else the pty."""
        path = self.link or self.pty
        assert path is not None, "module has no pty"
        return path


def parse_module_line(line: str) -> ModuleLine:
    words = line.split()
    assert words[0] == "module" and words[3] == "IMEI", line
    headless = words[5:] == ["headless"]
    extra = {} if headless else dict(zip(words[5::2], words[6::2], strict=True))
    tcp = None
    if "tcp" in extra:
        host, _, port = extra["tcp"].rpartition(":")
        tcp = (host.strip("[]"), int(port))
    return ModuleLine(
        index=int(words[1]),
        model=words[2],
        imei=words[4],
        pty=extra.get("pty"),
        link=extra.get("link"),
        tcp=tcp,
        headless=headless,
    )


class ServeProcess:
    """``python -m emulator serve ...`` as a child, its stdout read with deadlines."""

    def __init__(
        self, *args: str | os.PathLike[str], stderr_path: Path, stdin_pipe: bool = False
    ) -> None:
        self.args = [str(a) for a in args]
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 (closed in stop/__exit__)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", *self.args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            cwd=REPO,
            bufsize=0,
        )
        self._buffer = b""
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_line(self, timeout: float) -> str | None:
        """The next stdout line, or None at end of file. Fails after ``timeout`` seconds."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line from serve in {timeout} s; stderr: {self.stderr()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                if self._buffer:
                    rest, self._buffer = self._buffer, b""
                    return rest.decode()
                return None
            self._buffer += chunk
        line_bytes, self._buffer = self._buffer.split(b"\n", 1)
        line = line_bytes.decode()
        self.lines.append(line)
        return line

    def wait_ready(self, timeout: float = 30.0) -> list[ModuleLine]:
        """Module lines up to ``ready``; fails if the process ends or stalls first."""
        modules: list[ModuleLine] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.1, deadline - time.monotonic()))
            if line is None:
                code = self.proc.wait(10)
                raise AssertionError(f"serve exited {code} before ready: {self.stderr()}")
            if line == "ready":
                return modules
            modules.append(parse_module_line(line))

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def write_line(self, line: str) -> None:
        """A line on the child's stdin (``stdin_pipe=True``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(OSError):
            self._stderr.close()


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``python -m emulator ARGS`` to completion (help, bad arguments, profiles)."""
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------- AT client
class AtPort:
    """A host program on the module's serial device, through pyserial (blocking)."""

    def __init__(self, device: str, timeout: float = 5.0) -> None:
        self.serial = serial.Serial(device, 115200, timeout=timeout)

    def command(self, line: bytes, until: bytes = b"OK\r\n") -> bytes:
        """Send ``line`` and read up to ``until``; fails if it does not come in time."""
        self.serial.write(line)
        answer: bytes = self.serial.read_until(until)
        assert answer.endswith(until), f"{line!r} got {answer!r}"
        return answer

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> AtPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def process_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")
