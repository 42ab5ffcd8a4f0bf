"""``quecemu``: the command line (a thin shell over ``emulator.app.serve``).

Sub-commands: ``serve`` (here), ``profiles`` (here), and whatever ``emulator.app.server_cli``
and ``scenario_tool.cli`` add when they exist. Each of those modules offers
``add_subparser(subparsers)``, which adds its parser and sets ``func`` with
``set_defaults``; ``func(args)`` returns an exit status (or None for 0), or a coroutine
that does, which is run here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from emulator.adapters.port.tcp import parse_address
from emulator.app.serve import Emulator, ServeConfigError, ServeOptions
from emulator.module.profile import ProfileError, builtin_names, load_profile

PROG = "quecemu"
PLUGIN_MODULES = ("emulator.app.server_cli", "scenario_tool.cli", "emulator.app.ctl")

SERVE_DESCRIPTION = """\
Run emulated Quectel modules until SIGINT or SIGTERM. Each module answers AT commands on
a pseudo-terminal (open it with pyserial, picocom, minicom, socat...) and/or a TCP port.

For every module one line is printed on stdout, then "ready":

  module 0 EC200U IMEI 869339060001965 pty /dev/pts/5 link /tmp/ttyQ
  module 0 EC200U IMEI 869339060001965 tcp 127.0.0.1:40001
  ready

Warnings (a corrupt state file, ...) go to stderr. The port survives the host program
closing and reopening it; output nobody reads is dropped, never queued without bound.
"""

SERVE_EPILOG = """\
examples:
  quecemu serve --link /tmp/ttyQ            then: picocom /tmp/ttyQ
                                            or: socat - /tmp/ttyQ,raw,echo=0
  quecemu serve --count 3 --link /tmp/ttyQ  links /tmp/ttyQ0 /tmp/ttyQ1 /tmp/ttyQ2
  quecemu serve --tcp 127.0.0.1:0           TCP only, on a port the system picks
  quecemu serve --state-dir ./state         AT&W settings survive a restart
  quecemu serve --map api.example.com=127.0.0.1 --map 203.0.113.5:1883=127.0.0.1:1883
                                            the module's sockets, HTTP and MQTT reach local
                                            test servers under the names the app uses

The module's network reaches only loopback (127.0.0.0/8, ::1) and what --map sends there;
names not mapped fail with the module's DNS error, unless --allow-external lets the PC's
resolver and routes answer.
"""


def positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def tcp_address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_serve_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run emulated modules on ptys / TCP ports",
        description=SERVE_DESCRIPTION,
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--model",
        default="EC200U",
        help=f"built-in profile to emulate: {', '.join(builtin_names())} (default: %(default)s)",
    )
    which.add_argument(
        "--profile",
        metavar="FILE",
        help='profile file (JSON; may "extends" a built-in model) instead of --model',
    )
    parser.add_argument(
        "--imei",
        metavar="N",
        help="IMEI of module 0 (15 digits, valid check digit); the others get the next "
        "serial numbers (default: the profile's)",
    )
    parser.add_argument(
        "--count", type=positive_int, default=1, metavar="N", help="number of modules (default: 1)"
    )
    parser.add_argument(
        "--link",
        type=Path,
        metavar="PATH",
        help="stable symlink to the pty (PATH0, PATH1... with --count > 1); an old symlink "
        "is replaced, and it is removed on exit",
    )
    parser.add_argument(
        "--tcp",
        type=tcp_address,
        metavar="HOST:PORT",
        help="serve the AT port on TCP, one client at a time (a second one is told who holds "
        "it and closed); module i listens on PORT+i, or all on free ports with PORT 0. "
        "Without --link or --pty, no pty is created",
    )
    parser.add_argument(
        "--pty", action="store_true", help="also create a pty when --tcp is given without --link"
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no AT port: the modules run on their stored settings (--state-dir) and are "
        "driven through --control, scenarios or the API; a control line 'port N pty|tcp' "
        "gives module N an AT port when one is needed. Lets one process hold 10,000 modules",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep each module's non-volatile settings (AT&W...) in DIR/<imei>.json",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="append a timestamped RX/TX log of every port to FILE",
    )
    parser.add_argument(
        "--trace-secrets",
        action="store_true",
        help="write PSKs into the trace as typed (default: each character of a key is "
        "shown as *, so the trace says a key was set and its length)",
    )
    parser.add_argument(
        "--trace-max-mb",
        type=positive_int,
        default=32,
        metavar="N",
        help="rotate the trace to FILE.1 past N MiB (default: %(default)s)",
    )
    parser.add_argument(
        "--baud",
        type=positive_int,
        metavar="N",
        help="pace output like a UART at N baud, 10 bits per byte (default: as fast as "
        "the host reads)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="read network-side control lines on stdin ('sms MODULE SENDER TEXT' delivers "
        "an SMS) and print what the modules send ('sms sent MODULE NUMBER \"TEXT\"'); "
        "see docs/sms.md",
    )
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        help="control plane and event stream on an MQTT broker, mqtt://HOST:PORT: URCs, "
        "state changes and a retained status per module, AT lines and controls in; see "
        "docs/control-plane.md",
    )
    parser.add_argument(
        "--mqtt-prefix",
        default="quecemu",
        metavar="PREFIX",
        help="topic prefix for --mqtt (default: %(default)s): PREFIX/<IMEI>/...",
    )
    parser.add_argument(
        "--replica",
        metavar="N|hostname|compose",
        help="one of several serve processes, each with --count C: take the IMEIs of "
        "indices N*C.. from the first IMEI. 'hostname': N from the host name's -N "
        "(a Kubernetes StatefulSet pod); 'compose': from the container name (docker-compose "
        "--scale, numbered from 1)",
    )
    parser.add_argument(
        "--urc-before-echo",
        action="store_true",
        help="fault: hold URCs and send them just before the next command's echo",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ENTRY",
        help="virtual network: NAME=ADDR resolves a host name (or *.suffix) to ADDR; "
        "HOST:PORT=ADDR:PORT sends connections to HOST:PORT (an address or a name) to a local "
        "peer. Repeatable; adds to the profile's network_map",
    )
    parser.add_argument(
        "--allow-external",
        action="store_true",
        help="let the module's traffic leave loopback: unmapped names go to the PC's "
        "resolver and unmapped destinations are reached as they are (default: refused)",
    )
    parser.set_defaults(func=run_serve, parser=parser)


def add_profiles_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profiles",
        help="list the built-in module profiles",
        description="List the built-in module profiles (usable with serve --model).",
    )
    parser.set_defaults(func=run_profiles, parser=parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Software emulator of Quectel cellular modules (EC200U family): AT "
        "commands on a pty or TCP port, LwM2M behind AT+QLW*.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_serve_parser(subparsers)
    add_profiles_parser(subparsers)
    for name in PLUGIN_MODULES:
        plugin = _import_plugin(name)
        if plugin is not None:
            plugin.add_subparser(subparsers)
    return parser


def _import_plugin(name: str) -> ModuleType | None:
    """The module, or None if it (or its package) does not exist yet. An import error
    raised from inside a module that does exist is a bug and is not hidden."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


# ------------------------------------------------------------------------ serve
def serve_options(args: argparse.Namespace) -> ServeOptions:
    offset = 0
    if getattr(args, "replica", None) is not None:
        from emulator.app.replica import ReplicaError, resolve_replica

        try:
            offset = resolve_replica(args.replica) * args.count
        except ReplicaError as exc:
            args.parser.error(f"--replica: {exc}")
    return ServeOptions(
        profile=args.profile or args.model,
        imei=args.imei,
        imei_offset=offset,
        count=args.count,
        pty=args.pty if args.headless else (args.tcp is None or args.link is not None or args.pty),
        headless=args.headless,
        link=args.link,
        tcp=args.tcp,
        state_dir=args.state_dir,
        trace=args.trace,
        trace_max_bytes=args.trace_max_mb * 1024 * 1024,
        trace_secrets=args.trace_secrets,
        baud=args.baud,
        urc_before_echo=args.urc_before_echo,
        network_map=tuple(args.map),
        allow_external=args.allow_external,
    )


def run_serve(args: argparse.Namespace) -> int:
    emulator = Emulator(serve_options(args))
    try:
        mqtt = (args.mqtt, args.mqtt_prefix) if getattr(args, "mqtt", None) else None
        return asyncio.run(
            _serve(emulator, control=bool(getattr(args, "control", False)), mqtt=mqtt)
        )
    except ServeConfigError as exc:
        args.parser.error(str(exc))  # exits 2 with the usage line
    except OSError as exc:  # a link we may not replace, a TCP port in use...
        _print_err(f"{PROG}: error: {exc}")
        return 1
    return 0  # not reached: parser.error exits


async def _serve(
    emulator: Emulator, *, control: bool = False, mqtt: tuple[str, str] | None = None
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    emulator.prepare()
    _print_warnings(emulator, 0)
    plane = None
    if mqtt is not None:
        from emulator.adapters.controlplane import FIRST_CONNECT_WAIT
        from emulator.app.controlplane import build_control_plane

        try:
            plane = build_control_plane(
                [(served.imei, served.host) for served in emulator.modules], *mqtt
            )
        except ValueError as exc:
            raise ServeConfigError(f"--mqtt: {exc}") from exc
        await plane.start()  # before the modules boot: their first URCs are published
        await plane.wait_connected(FIRST_CONNECT_WAIT)  # a broker that is down: go on without
    seen = len(emulator.warnings)
    try:
        await emulator.start()
    except BaseException:
        if plane is not None:
            await plane.stop()
        raise
    control_task: asyncio.Task[None] | None = None
    try:
        _print_warnings(emulator, seen)
        if control:
            from emulator.app.control import ControlChannel

            channel = ControlChannel(
                emulator.modules,
                _print_out,
                lambda line: _print_err(f"{PROG}: {line}"),
                emulator=emulator,
            )
            control_task = asyncio.create_task(channel.run_stdin(), name="control")
        if not stop.is_set():  # a signal during start-up: do not announce a dying server
            for served in emulator.modules:
                _print_out(served.ready_line())
            _print_out("ready")
        await stop.wait()
    finally:
        if control_task is not None:
            control_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await control_task
        if plane is not None:
            await plane.stop()
        seen = len(emulator.warnings)
        await emulator.stop()
        _print_warnings(emulator, seen)
    return 0


def _print_warnings(emulator: Emulator, start: int) -> None:
    for warning in emulator.warnings[start:]:
        _print_err(f"{PROG}: warning: {warning}")


def _print_out(line: str) -> None:
    with contextlib.suppress(BrokenPipeError):  # our parent stopped listening; keep serving
        print(line, flush=True)


def _print_err(line: str) -> None:
    with contextlib.suppress(BrokenPipeError):
        print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- profiles
def run_profiles(args: argparse.Namespace) -> int:
    for name in builtin_names():
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            print(f"{name}  (broken: {exc})")
            continue
        ident = profile.identity
        print(f"{profile.name:<10} {ident.manufacturer} {ident.model} {ident.revision}")
    return 0


# ------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format=f"{PROG}: %(levelname)s %(name)s: %(message)s",
    )
    result = args.func(args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)
