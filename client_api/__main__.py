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
        " `_thread`, `utime`... go to the module on PORT.",
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
    run.add_argument("-v", "--verbose", action="count", default=0, help="log AT traffic events")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(options.verbose, 2)
    logging.basicConfig(level=level, format="client_api %(levelname)s %(name)s: %(message)s")
    if not options.app.is_file():
        print(f"client_api: no such script: {options.app}", file=sys.stderr)
        return EXIT_USAGE
    # print() on the device goes out at once; keep that when stdout is a pipe.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    try:
        return run_cli(
            RunOptions(
                script=options.app,
                port=options.port,
                timeout=options.timeout,
                until_urc=options.until_urc,
                args=tuple(args),
            )
        )
    except PortNotConfigured as exc:
        print(f"client_api: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
