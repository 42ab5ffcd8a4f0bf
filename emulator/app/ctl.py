"""``quecemu ctl``: steer and watch ``serve --mqtt`` modules through the broker.

    quecemu ctl [--mqtt URL] [--mqtt-prefix P] at IMEI LINE [--data TEXT] [--timeout S]
    quecemu ctl ... control IMEI NAME [FIELD=VALUE ...]
    quecemu ctl ... status IMEI
    quecemu ctl ... watch [IMEI] [--what urc,event,status,response] [--count N] [--for S]

Exit status: 0 done (``at``: the final result code was OK); 1 the module answered with an
error (ERROR, +CME ERROR, a refused control); 2 bad arguments; 3 no answer (broker
unreachable, unknown IMEI, module silent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Final

from emulator.adapters.controlplane import BrokerAddress, parse_broker_url
from emulator.app.controller import Controller, ControllerError, NoAnswer
from emulator.controlplane.controls import CONTROL_NAMES
from emulator.controlplane.schema import DEFAULT_AT_TIMEOUT, MAX_AT_TIMEOUT

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_NO_ANSWER: Final = 3
WATCH_KINDS: Final = ("urc", "event", "status", "response")

EPILOG = (
    """\
examples:
  quecemu ctl at 869339060001965 'AT+CSQ'
  quecemu ctl at 869339060001965 'AT+CMGS="+8613800000000"' --data 'hello'
  quecemu ctl control 869339060001965 signal rssi=5
  quecemu ctl control 869339060001965 coverage present=false
  quecemu ctl control 869339060001965 sms sender=+8613912345678 'text="Hi there"'
  quecemu ctl status 869339060001965
  quecemu ctl watch                       every module's URCs, events and statuses
  quecemu ctl watch 869339060001965 --what urc --count 5

controls: """
    + ", ".join(CONTROL_NAMES)
    + """ (fields in docs/control-plane.md)
"""
)


def broker_url(text: str) -> BrokerAddress:
    try:
        return parse_broker_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def field_value(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``: VALUE as JSON (20, true, "text"), else as the plain string."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=VALUE")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def add_subparser(subparsers: Any) -> None:
    """Hook for ``emulator.app.cli``: adds ``ctl``."""
    parser = subparsers.add_parser(
        "ctl",
        help="send AT lines and controls to serve --mqtt modules, watch their events",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--mqtt",
        type=broker_url,
        default=BrokerAddress("127.0.0.1", 1883),
        metavar="URL",
        help="the broker, mqtt://HOST:PORT (default: mqtt://127.0.0.1:1883)",
    )
    parser.add_argument("--mqtt-prefix", default="quecemu", metavar="PREFIX")
    actions = parser.add_subparsers(dest="ctl_command", metavar="ACTION", required=True)
    at = actions.add_parser("at", help="run one AT command line on a module")
    at.add_argument("imei")
    at.add_argument("line")
    at.add_argument("--data", help="text to type after a '> ' prompt (CTRL-Z is added)")
    at.add_argument("--timeout", type=float, default=DEFAULT_AT_TIMEOUT, metavar="S")
    control = actions.add_parser("control", help="signal, coverage, SIM, power, SMS ...")
    control.add_argument("imei")
    control.add_argument("name", choices=CONTROL_NAMES)
    control.add_argument("fields", nargs="*", type=field_value, metavar="FIELD=VALUE")
    status = actions.add_parser("status", help="a module's retained status")
    status.add_argument("imei")
    watch = actions.add_parser("watch", help="print events as JSON lines")
    watch.add_argument("imei", nargs="?", default="+")
    watch.add_argument("--what", default="urc,event,status", metavar="KINDS")
    watch.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    watch.add_argument("--for", dest="duration", type=float, metavar="S", help="stop after S s")
    parser.set_defaults(func=run_ctl, parser=parser)


def run_ctl(args: argparse.Namespace) -> int:
    if args.ctl_command == "at" and not 0 < args.timeout <= MAX_AT_TIMEOUT:
        args.parser.error(f"--timeout must be in (0, {MAX_AT_TIMEOUT:g}] seconds")
    if args.ctl_command == "watch":
        kinds = [k for k in args.what.split(",") if k]
        bad = [k for k in kinds if k not in WATCH_KINDS]
        if bad or not kinds:
            args.parser.error(f"--what takes {', '.join(WATCH_KINDS)}, not {args.what!r}")
    try:
        return asyncio.run(_ctl(args))
    except ControllerError as exc:  # NoAnswer among them
        _err(f"quecemu ctl: {exc}")
        return EXIT_NO_ANSWER
    except KeyboardInterrupt:
        return EXIT_OK


async def _ctl(args: argparse.Namespace) -> int:
    async with Controller(args.mqtt, args.mqtt_prefix) as ctl:
        if args.ctl_command in ("at", "control"):
            await _announced(ctl, args.imei)
        if args.ctl_command == "at":
            answer = await ctl.at(args.imei, args.line, data=args.data, timeout=args.timeout)
            if answer.get("error"):
                _err(f"quecemu ctl: {answer['error']}")
            for line in answer.get("lines") or []:
                print(line)
            ok = not answer.get("error") and answer.get("final") in ("OK", "0", "")
            return EXIT_OK if ok else EXIT_REFUSED
        if args.ctl_command == "control":
            answer = await ctl.control(args.imei, args.name, **dict(args.fields))
            if answer.get("error"):
                _err(f"quecemu ctl: {args.name}: {answer['error']}")
                return EXIT_REFUSED
            print(json.dumps(answer.get("result")))
            return EXIT_OK
        if args.ctl_command == "status":
            status = await ctl.status(args.imei)
            if status is None:
                raise NoAnswer(
                    f"no module with IMEI {args.imei} under '{args.mqtt_prefix}': no serve "
                    "process announced it"
                )
            print(json.dumps(status))
            return EXIT_OK
        prefix = args.mqtt_prefix
        filters = []
        for kind in args.what.split(","):
            if kind == "urc":
                filters.append(f"{prefix}/{args.imei}/urc")
            elif kind == "event":
                filters.append(f"{prefix}/{args.imei}/event/+")
            elif kind == "status":
                filters.append(f"{prefix}/{args.imei}/status")
            else:
                filters += [
                    f"{prefix}/{args.imei}/at/response",
                    f"{prefix}/{args.imei}/control/response",
                ]
        async for topic, body in ctl.watch(filters, duration=args.duration, count=args.count):
            print(json.dumps({"topic": topic, **body}), flush=True)
        return EXIT_OK


async def _announced(ctl: Controller, imei: str) -> None:
    """Fail fast, saying why, when no serve process announced ``imei`` or it went offline."""
    status = await ctl.status(imei)
    if status is None:
        raise NoAnswer(
            f"no module with IMEI {imei} under '{ctl.topics.prefix}': no serve process "
            "announced it (no retained status)"
        )
    if not status.get("online", False):
        raise NoAnswer(
            f"module {imei} is offline (its serve process {status.get('instance')} stopped)"
        )


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
