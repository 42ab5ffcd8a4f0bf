"""The common EC200U set over the pty: a driver's boot sequence, and client_api with verbose
(ATV1) against numeric (ATV0) result codes.

1. ``boot``: the 22 commands a typical EC200U driver sends at boot (AT+QGMR, AT+QCSQ,
   AT+CGREG?, AT+QNWINFO, AT+QENG="servingcell", AT+QLTS=2, AT&V, AT+CLAC ...), written with
   pyserial and read up to their final result code; per-command latency and the whole
   sequence per round.
2. ``client``: ``AtChannel.command("AT+QCSQ")`` round trips with ATV1 and with ATV0; the
   ratio says what parsing numeric result codes costs (or saves: fewer bytes).

    python -m benchmarks.at_common_set [--rounds 200] [--commands 2000]

Numbers only; ``quecemu serve`` runs in its own process as a user runs it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import serial

import client_api
from benchmarks._common import ServeChild, median, percentile, report

BOOT_SEQUENCE = (
    "AT+CMEE=2",
    "AT+QGMR",
    "AT+QCSQ",
    "AT+CGREG?",
    "AT+QNWINFO",
    'AT+QENG="servingcell"',
    "AT+QLTS=2",
    "AT+CGPADDR=1",
    'AT+QCFG="nwscanmode"',
    'AT+QURCCFG="urcport"',
    "AT+IFC?",
    "AT+IPR?",
    "AT&V",
    "AT+CLAC",
    "AT+CNUM",
    "AT+CLIP=1",
    "AT+CVHU=0",
    "AT+CCID",
    "AT+QINISTAT",
    "AT+CPAS",
    "AT+CEER",
    "AT+CTZR?",
)


def read_answer(port: serial.Serial) -> bytes:
    """Up to the final result code, in the chunks the pty has (``read_until`` would read
    one byte per system call and measure pyserial on AT+CLAC's kilobyte)."""
    answer = b""
    while not answer.endswith(b"\r\nOK\r\n"):
        chunk = port.read(max(1, port.in_waiting))
        if not chunk:
            break
        answer += chunk
    return answer


def boot_rounds(device: str, rounds: int) -> tuple[list[float], list[float]]:
    port = serial.Serial(device, 115200, timeout=5)
    port.write(b"ATE0\r")
    read_answer(port)
    per_command: list[float] = []
    per_round: list[float] = []
    for _ in range(rounds):
        round_start = time.perf_counter_ns()
        for command in BOOT_SEQUENCE:
            start = time.perf_counter_ns()
            port.write(command.encode() + b"\r")
            answer = read_answer(port)
            per_command.append((time.perf_counter_ns() - start) / 1e6)
            if not answer.endswith(b"\r\nOK\r\n"):
                raise SystemExit(f"{command}: unexpected answer {answer!r}")
        per_round.append((time.perf_counter_ns() - round_start) / 1e6)
    port.close()
    return per_command, per_round


def client_rounds(device: str, commands: int, numeric: bool) -> list[float]:
    channel = client_api.open(device, command_timeout=5.0)
    try:
        if not channel.wait_connected(10):
            raise SystemExit("the channel did not connect")
        channel.command("ATV0" if numeric else "ATV1")
        times: list[float] = []
        for _ in range(commands):
            start = time.perf_counter_ns()
            response = channel.command("AT+QCSQ")
            times.append((time.perf_counter_ns() - start) / 1e6)
            if response.final != "OK" or not response.lines:
                raise SystemExit(f"unexpected response {response!r}")
        channel.command("ATV1")
        return times
    finally:
        channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--commands", type=int, default=2000)
    args = parser.parse_args()
    profile = ["--model", "EC200U"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServeChild(*profile, "--link", str(Path(tmp) / "ttyQ")) as child,
    ):
        (module,) = child.wait_ready()
        per_command, per_round = boot_rounds(module["link"], args.rounds)
        report(
            "at_common_set_boot",
            f"{args.rounds} x {len(BOOT_SEQUENCE)} commands: per command median "
            f"{median(per_command):.3f} ms, p99 {percentile(per_command, 0.99):.3f} ms; "
            f"whole sequence median {median(per_round):.2f} ms, p99 "
            f"{percentile(per_round, 0.99):.2f} ms",
            rounds=args.rounds,
            commands_per_round=len(BOOT_SEQUENCE),
            command_median_ms=round(median(per_command), 4),
            command_p99_ms=round(percentile(per_command, 0.99), 4),
            round_median_ms=round(median(per_round), 3),
            round_p99_ms=round(percentile(per_round, 0.99), 3),
        )
        verbose = client_rounds(module["link"], args.commands, numeric=False)
        numeric = client_rounds(module["link"], args.commands, numeric=True)
        child.stop()
    ratio = median(numeric) / median(verbose)
    report(
        "at_common_set_client_v0_v1",
        f"{args.commands} x AT+QCSQ through client_api: ATV1 median {median(verbose):.3f} ms "
        f"(p99 {percentile(verbose, 0.99):.3f}), ATV0 median {median(numeric):.3f} ms "
        f"(p99 {percentile(numeric, 0.99):.3f}); ATV0/ATV1 {ratio:.2f}",
        commands=args.commands,
        v1_median_ms=round(median(verbose), 4),
        v1_p99_ms=round(percentile(verbose, 0.99), 4),
        v0_median_ms=round(median(numeric), 4),
        v0_p99_ms=round(percentile(numeric, 0.99), 4),
        v0_over_v1=round(ratio, 3),
    )


if __name__ == "__main__":
    main()
