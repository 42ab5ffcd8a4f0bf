"""An idle emulator sleeps: no busy loop whether or not a host holds the port.

This is a behaviour bound, not a benchmark (benchmarks/at_idle.py measures 60 s): a
process that polled its pty, or spun on EIO from a master nobody holds open, would burn a
whole core and fail by a factor of twenty.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.transport.helpers import AtPort, ServeProcess, process_cpu_seconds, write_test_profile

WINDOW = 1.5  # seconds of wall time per measurement
BOUND = 0.05  # fraction of one core


def cpu_share_over_window(pid: int) -> float:
    before_cpu, before_wall = process_cpu_seconds(pid), time.monotonic()
    time.sleep(WINDOW)  # the measurement itself: let time pass and see what it cost
    return (process_cpu_seconds(pid) - before_cpu) / (time.monotonic() - before_wall)


def test_idle_cpu_with_and_without_a_host(tmp_path: Path) -> None:
    profile = write_test_profile(tmp_path)
    link = tmp_path / "ttyQ"
    args = ("serve", "--profile", profile, "--link", link, "--count", "3")
    with ServeProcess(*args, stderr_path=tmp_path / "stderr") as proc:
        modules = proc.wait_ready()

        nobody = cpu_share_over_window(proc.pid)

        with AtPort(modules[0].device) as at:
            at.command(b"AT\r")  # the host is really there, then sits idle
            holding = cpu_share_over_window(proc.pid)

        # ... and after that host went away again (the master would now EIO if we had
        # not kept the slave open).
        again = cpu_share_over_window(proc.pid)

        # A host that opened the device and never configured or read it.
        fd = os.open(modules[1].device, os.O_RDWR | os.O_NOCTTY)
        try:
            silent = cpu_share_over_window(proc.pid)
        finally:
            os.close(fd)

        assert proc.stop() == 0
    shares = {"nobody": nobody, "holding": holding, "after": again, "silent": silent}
    print("idle CPU share of one core:", shares)
    assert all(share < BOUND for share in shares.values()), shares
