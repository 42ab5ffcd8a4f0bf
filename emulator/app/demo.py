"""``make demo``: the main job on embedded defaults.

1. Starts a virtual EC200U on a pseudo-terminal and prints its device path.
2. Talks to it through pyserial, as a host program would, and shows the exchange.
3. Runs the LwM2M conformance set against the embedded server (or a Leshan with
   ``--leshan URL``, and its bootstrap server with ``--leshan-bs URL`` so the bootstrap
   scenarios run there too), with progress on screen, a summary and the transcript's
   location.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import serial

from emulator.app.serve import Emulator, ServeOptions

SCRIPT = (
    "ATE0",
    "ATI",
    "AT+CGSN=1",
    "AT+CPIN?",
    "AT+QCCID",
    "AT+CSQ",
    "AT+CEREG?",
    "AT+COPS?",
    "AT+CGDCONT?",
    "AT+QIACT=1",
    "AT+QIACT?",
    "AT+CCLK?",
    "AT+CFUN=7",
)

PROFILE = "EC200U"
CONFORMANCE = Path(__file__).resolve().parents[2] / "scenarios" / "conformance"


def _exchange(port: serial.Serial, command: str, timeout: float = 5.0) -> list[str]:
    """Send one line and read up to its final result code, as a host driver does."""
    port.write(command.encode("ascii") + b"\r")
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = port.readline()
        if not raw:
            continue
        line = raw.decode("ascii", "replace").strip()
        if not line or line == command:
            continue
        lines.append(line)
        if line in ("OK", "ERROR") or line.startswith("+CME ERROR"):
            return lines
    lines.append(f"(no final result code within {timeout:.0f} s)")
    return lines


def _talk(device: str) -> bool:
    print(f"\n--- a host program opens {device} and talks AT (pyserial) ---")
    with serial.Serial(device, 115200, timeout=0.2) as port:
        ok = True
        for command in SCRIPT:
            print(f">> {command}")
            for line in _exchange(port, command):
                print(f"<< {line}")
                ok = ok and not line.startswith("(no final")
        return ok


async def _run_module(link: Path) -> int:
    emulator = Emulator(ServeOptions(link=link, profile=PROFILE))
    emulator.prepare()
    await emulator.start()
    try:
        for served in emulator.modules:
            print(served.ready_line(), flush=True)
        return 0 if await asyncio.to_thread(_talk, str(link)) else 1
    finally:
        await emulator.stop()


def _run_conformance(leshan: str | None, out_dir: Path, leshan_bs: str | None = None) -> int:
    try:
        from scenario_tool.cli import run_files
    except ImportError as exc:
        print(f"\n(conformance set not available in this build: {exc})")
        return 0
    files = sorted(CONFORMANCE.glob("*.yaml"))
    if not files:
        print(f"\n(no conformance scenarios under {CONFORMANCE})")
        return 0
    print(
        f"\n--- LwM2M conformance set: {len(files)} scenarios against "
        f"{'Leshan at ' + leshan if leshan else 'the embedded server'} ---",
        flush=True,
    )
    return run_files(
        files,
        server="leshan" if leshan else "embedded",
        leshan_url=leshan,
        leshan_bootstrap_url=leshan_bs,
        junit=out_dir / "conformance.xml",
        transcript=out_dir / "conformance-transcript.txt",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator.app.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--leshan",
        metavar="URL",
        help="run the conformance set against this Leshan (REST base URL)",
    )
    parser.add_argument(
        "--leshan-bs",
        metavar="URL",
        help="with --leshan: that Leshan's bootstrap server (REST base URL), for the "
        "bootstrap scenarios",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="where the transcript and JUnit report go (default: ./out)",
    )
    args = parser.parse_args(argv)
    if args.leshan_bs and not args.leshan:
        parser.error("--leshan-bs needs --leshan (the bootstrap server provisions that server)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quecemu-demo-") as tmp:
        status = asyncio.run(_run_module(Path(tmp) / "ttyQ0"))
    if status != 0:
        print("demo: the AT exchange did not complete", file=sys.stderr)
        return status
    return _run_conformance(args.leshan, args.out, args.leshan_bs)


if __name__ == "__main__":
    sys.exit(main())
