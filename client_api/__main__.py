"""``python -m client_api run APP.py --port PORT``: run a QuecPython script on the PC."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from client_api.errors import PortNotConfigured
from client_api.ports import PORT_ENV
from client_api.runtime import EXIT_USAGE, RunOptions, run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client_api",
        description="QuecPython's lwm2m API (and the modules scripts use) on a PC,"
        " over a Quectel module's AT port, real or emulated.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run an unmodified QuecPython script against the module",
        description="Run APP as the device would run it: `import lwm2m`, `net`, `modem`,"
        " `_thread`, `utime`... go to the module on PORT. Arguments after `--` become the"
        " script's sys.argv[1:].",
    )
    run.add_argument("app", type=Path, help="the QuecPython script (e.g. main.py)")
    run.add_argument(
        "--port",
        help=f"device path or pyserial URL (socket://HOST:PORT, rfc2217://...);"
        f" default ${PORT_ENV}",
    )
    run.add_argument("--timeout", type=float, help="stop after this many seconds (exit status 124)")
    run.add_argument(
        "--until-urc",
        metavar="TEXT",
        help="stop (exit status 0) once a URC containing TEXT reached the script's callbacks,"
        ' e.g. \'"ready","successfully"\'',
    )
    run.add_argument(
        "--usr",
        type=Path,
        metavar="DIR",
        help="the folder standing for the module's /usr (uos, ql_fs, open());"
        " default: a folder of this application's own under ~/.cache/quecemu/usr",
    )
    run.add_argument(
        "--uart",
        action="append",
        default=[],
        metavar="N=PORT",
        type=_uart_mapping,
        help="machine.UART(N) uses this PC serial port (device path or pyserial URL); repeatable",
    )
    run.add_argument(
        "--keep-state",
        dest="fresh_boot",
        action="store_false",
        help="start the script on the module as it is; by default the module is rebooted"
        " first (AT+CFUN=1,1), as the device starts its application after power-up",
    )
    run.add_argument("-v", "--verbose", action="count", default=0, help="log AT traffic events")
    return parser


def _uart_mapping(text: str) -> tuple[int, str]:
    number, _, port = text.partition("=")
    if not number.isdigit() or not 0 <= int(number) <= 4 or not port:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected N=PORT with N a UART number 0-4, e.g. 2=/dev/ttyUSB0"
        )
    return int(number), port


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is the script's own sys.argv[1:].
    split = words.index("--") if "--" in words else len(words)
    options = build_parser().parse_args(words[:split])
    script_args = tuple(words[split + 1 :])
    level = logging.WARNING - 10 * min(options.verbose, 2)
    logging.basicConfig(level=level, format="client_api %(levelname)s %(name)s: %(message)s")
    if not options.app.is_file():
        print(f"client_api: no such script: {options.app}", file=sys.stderr)
        return EXIT_USAGE
    if options.usr is not None and options.usr.exists() and not options.usr.is_dir():
        print(f"client_api: --usr {options.usr} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    # print() on the device goes out at once; keep that when stdout is a pipe.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    try:
        return run_cli(
            RunOptions(
                script=options.app,
                port=options.port,
                timeout=options.timeout,
                until_urc=options.until_urc,
                args=script_args,
                usr=options.usr,
                uarts=tuple(options.uart),
                fresh_boot=options.fresh_boot,
            )
        )
    except PortNotConfigured as exc:
        print(f"client_api: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
