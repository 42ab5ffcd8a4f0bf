"""What the AT benchmarks share: a ``quecemu serve`` child and /proc readings."""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class ServeChild:
    """``python -m emulator serve ARGS``; ``wait_ready`` returns the module lines."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            bufsize=0,
        )
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 120.0) -> list[dict[str, str]]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        modules: list[dict[str, str]] = []
        while True:
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("serve did not print ready")
                if select.select([self.proc.stdout], [], [], remaining)[0]:
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    if not chunk:
                        raise RuntimeError(f"serve exited {self.proc.wait()} before ready")
                    self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\n", 1)
            line = raw.decode()
            if line == "ready":
                return modules
            words = line.split()
            module = dict(zip(words[5::2], words[6::2], strict=True))
            module["imei"] = words[4]
            modules.append(module)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def __enter__(self) -> ServeChild:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, text: str, **numbers: Any) -> None:
    """One human line and one JSON line per result."""
    print(f"{name}: {text}")
    print(json.dumps({"benchmark": name, **numbers}, sort_keys=True), flush=True)


def coap_option(delta: int, value: bytes) -> bytes:
    """One CoAP option, encoded by hand (RFC 7252 §3.1) to keep datagram generators cheap:
    ``delta`` from the previous option number, extended nibbles 13 and 14 as needed."""

    def nibble(n: int) -> tuple[int, bytes]:
        if n < 13:
            return n, b""
        if n < 269:
            return 13, bytes([n - 13])
        return 14, (n - 269).to_bytes(2, "big")

    d, dx = nibble(delta)
    length, lx = nibble(len(value))
    return bytes([(d << 4) | length]) + dx + lx + value
