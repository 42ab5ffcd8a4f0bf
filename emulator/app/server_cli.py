"""``quecemu server``: run the embedded LwM2M server standalone and print what happens.

One line per event on stdout (registration, update, deregistration, expiry, notification,
bootstrap, queue-mode wake/sleep), after the listening lines and ``ready``::

    listening coap coap://127.0.0.1:5683
    listening coaps coaps://127.0.0.1:5684
    ready
    registered dev1 id=3f2a9c01 lwm2m=1.0 lt=300 b=U from 127.0.0.1:40312 dtls objects=</1/0>,</3/0>
    notification dev1 /3/0/13 seq=3 1700000060
    deregistered dev1 id=3f2a9c01

Stops cleanly on SIGINT/SIGTERM. ``main()`` makes ``python -m emulator.app.server_cli`` work too;
the ``quecemu`` command reaches it through :func:`add_subparser`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.adapters.port.tcp import parse_address
from emulator.lwm2m.model import Content, flatten
from emulator.lwm2m.paths import LwM2MPath
from emulator.server.bootstrap import BootstrapConfig, ServerAccount
from emulator.server.credentials import parse_psk_key
from emulator.server.errors import ServerApiError
from emulator.server.events import (
    Awake,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRequested,
    Deregistered,
    Expired,
    Notification,
    ObservationEnded,
    Registered,
    ServerEvent,
    Sleeping,
    Updated,
)
from emulator.server.registration import DEFAULT_AWAKE_TIME, DEFAULT_MAX_LINK_BYTES, Registration
from emulator.server.text import printable

__all__ = ["add_subparser", "build_parser", "describe", "main", "run"]

DESCRIPTION = """\
Run an LwM2M server (OMA LwM2M 1.0/1.1: registration, bootstrap, device management,
observe, queue mode, DTLS-PSK) until SIGINT or SIGTERM, printing one line per registration,
update, deregistration, expiry, notification and bootstrap step on stdout.
"""

EPILOG = """\
examples:
  quecemu server                                   coap on 127.0.0.1:5683
  quecemu server --coap :0 --coaps :0              free ports, printed on start
  quecemu server --psk-file keys.txt              PSKs from a file (EP=ID:HEXKEY lines)
  QUECEMU_PSK=dev1=dev1-id:000102030405 quecemu server   the same from the environment
  quecemu server --psk dev1=dev1-id:000102030405   dev1 must register over DTLS (the key is
                                                   then visible in `ps`: prefer the above)
  quecemu server --bootstrap :5783 --bootstrap-config dev1=coap://127.0.0.1:5683
  quecemu server --observe /3/0/13                 observe that path on every client
  quecemu server --http 127.0.0.1:8080             + Leshan's REST API, events, web page
"""

HTTP_TOKEN_ENV = "QUECEMU_HTTP_TOKEN"
PSK_HELP = (
    "endpoint PSK, EP=IDENTITY:HEXKEY (repeatable); that endpoint must use DTLS. Command-line "
    "arguments are visible to every user (ps, /proc): prefer --psk-file or $QUECEMU_PSK"
)
PSK_ENV = "QUECEMU_PSK"
BOOTSTRAP_HELP = (
    "what EP gets when it bootstraps: EP=coap://HOST:PORT or EP=coaps://HOST:PORT,ID:HEXKEY "
    "(repeatable; one LwM2M server account each)"
)


def address(text: str) -> tuple[str, int]:
    """argparse type: ``HOST:PORT``, ``:PORT`` or ``PORT`` (loopback), ``[v6]:PORT``."""
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def psk_entry(text: str) -> tuple[str, str, bytes]:
    """argparse type: ``EP=IDENTITY:HEXKEY`` → (endpoint, identity, key)."""
    endpoint, sep, rest = text.partition("=")
    identity, colon, key_hex = rest.rpartition(":")
    # Messages name the endpoint, never the key (they end up in terminals and CI logs).
    if not sep or not endpoint:
        raise argparse.ArgumentTypeError("a PSK entry is not EP=IDENTITY:HEXKEY (no EP=)")
    if not colon or not identity:
        raise argparse.ArgumentTypeError(
            f"the PSK entry for {printable(endpoint)!r} is not EP=IDENTITY:HEXKEY"
        )
    try:
        key = parse_psk_key(key_hex)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"the PSK key of {printable(endpoint)!r} is not usable: {exc}"
        ) from None
    return endpoint, identity, key


def psk_entries(text: str, where: str) -> list[tuple[str, str, bytes]]:
    """``EP=IDENTITY:HEXKEY`` entries separated by white space or ``;``; lines starting with
    ``#`` are comments (a --psk-file, or $QUECEMU_PSK)."""
    entries = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for item in line.replace(";", " ").split():
            try:
                entries.append(psk_entry(item))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"{where}: {exc}") from None
    return entries


def read_psk_file(path: str) -> list[tuple[str, str, bytes]]:
    """argparse helper for --psk-file: the entries of that file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return psk_entries(text, path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def bootstrap_entry(text: str) -> tuple[str, ServerAccount]:
    """argparse type: ``EP=URI`` or ``EP=URI,IDENTITY:HEXKEY`` → (endpoint, account)."""
    endpoint, sep, rest = text.partition("=")
    uri, comma, credentials = rest.partition(",")
    if not sep or not endpoint or not uri:
        raise argparse.ArgumentTypeError(f"{text!r} is not EP=URI[,IDENTITY:HEXKEY]")
    identity: str | None = None
    key: bytes | None = None
    if comma:
        identity, colon, key_hex = credentials.rpartition(":")
        if not colon or not identity:
            raise argparse.ArgumentTypeError(f"{text!r}: credentials are not IDENTITY:HEXKEY")
        try:
            key = parse_psk_key(key_hex)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    try:
        return endpoint, ServerAccount(uri=uri, psk_identity=identity, psk_key=key)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def lwm2m_path(text: str) -> LwM2MPath:
    """argparse type: an LwM2M path such as ``/3/0/13``."""
    try:
        return LwM2MPath.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def positive_float(text: str) -> float:
    """argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number above 0."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``server`` options to ``parser``."""
    parser.add_argument(
        "--coap",
        type=address,
        default=("127.0.0.1", 5683),
        metavar="HOST:PORT",
        help="plain CoAP listener (default 127.0.0.1:5683)",
    )
    parser.add_argument(
        "--coaps",
        type=address,
        default=None,
        metavar="HOST:PORT",
        help="DTLS-PSK listener (default: none; 127.0.0.1:5684 is the usual port)",
    )
    parser.add_argument("--no-coap", action="store_true", help="no plain CoAP listener (DTLS only)")
    parser.add_argument(
        "--bootstrap",
        type=address,
        default=None,
        metavar="HOST:PORT",
        help="a separate plain CoAP listener for the bootstrap interface only",
    )
    parser.add_argument(
        "--psk",
        type=psk_entry,
        action="append",
        default=[],
        metavar="EP=ID:HEXKEY",
        help=PSK_HELP,
    )
    parser.add_argument(
        "--psk-file",
        type=read_psk_file,
        action="append",
        default=[],
        metavar="FILE",
        help=f"endpoint PSKs from FILE, one EP=IDENTITY:HEXKEY per line (also ${PSK_ENV})",
    )
    parser.add_argument(
        "--max-registrations", type=positive_int, default=None, metavar="N",
        help="hold at most N registrations; a new endpoint past that gets 5.03 with Max-Age 60",
    )  # fmt: skip
    parser.add_argument(
        "--max-link-bytes", type=positive_int, default=DEFAULT_MAX_LINK_BYTES, metavar="N",
        help="longest Register/Update object list taken, in bytes (longer: 4.13; default "
        f"{DEFAULT_MAX_LINK_BYTES})",
    )  # fmt: skip
    parser.add_argument(
        "--bootstrap-config",
        type=bootstrap_entry,
        action="append",
        default=[],
        metavar="EP=URI[,ID:HEXKEY]",
        help=BOOTSTRAP_HELP,
    )
    parser.add_argument(
        "--observe",
        type=lwm2m_path,
        action="append",
        default=[],
        metavar="PATH",
        help="observe PATH on every client that registers (prints its notifications)",
    )
    parser.add_argument(
        "--awake-time", type=positive_float, default=DEFAULT_AWAKE_TIME, metavar="SECONDS",
        help=f"how long a queue-mode client stays reachable (default {DEFAULT_AWAKE_TIME:g})",
    )  # fmt: skip
    parser.add_argument(
        "--http", type=address, default=None, metavar="HOST:PORT",
        help="serve Leshan's demo REST API, its events (SSE) and a web page there "
        "(loopback unless a token is set)",
    )  # fmt: skip
    parser.add_argument(
        "--http-token", default=None, metavar="TOKEN",
        help=f"bearer token the HTTP API requires (default: ${HTTP_TOKEN_ENV}, which is better: "
        "command-line arguments are visible to every user through ps)",
    )  # fmt: skip


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``server`` to the ``quecemu`` command (sets ``func``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "server",
        help="run an LwM2M server and print what happens",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    parser.set_defaults(func=run, server_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m emulator.app.server_cli``."""
    parser = argparse.ArgumentParser(
        prog="quecemu server",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    parser.set_defaults(func=run, server_parser=parser)
    return parser


# -- event lines -------------------------------------------------------------------------------


def _objects(registration: Registration) -> str:
    links: list[str] = []
    for object_id, instances in sorted(registration.objects.items()):
        if instances:
            links.extend(f"</{object_id}/{iid}>" for iid in instances)
        else:
            links.append(f"</{object_id}>")
    return ",".join(links)


def _registration(registration: Registration) -> str:
    security = "dtls" if registration.secure else "nosec"
    return (
        f"{registration.endpoint} id={registration.registration_id} "
        f"lwm2m={registration.lwm2m_version} lt={registration.lifetime} "
        f"b={registration.binding} from {registration.address} {security}"
    )


def _value_text(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _content(content: Content, path: LwM2MPath) -> str:
    try:
        entries = flatten(content, path)
    except ValueError:
        return repr(content)
    if len(entries) == 1 and entries[0][0] == path:
        return _value_text(entries[0][1])
    return " ".join(f"{entry}={_value_text(value)}" for entry, value in entries)


def describe(event: ServerEvent) -> str:
    """The one line ``quecemu server`` prints for an event."""
    if isinstance(event, Registered):
        replaced = f" (replaces id={event.replaced.registration_id})" if event.replaced else ""
        return (
            f"registered {_registration(event.registration)} "
            f"objects={_objects(event.registration)}{replaced}"
        )
    if isinstance(event, Updated):
        objects = ""
        if event.registration.objects != event.previous.objects:
            objects = f" objects={_objects(event.registration)}"
        return f"updated {_registration(event.registration)}{objects}"
    if isinstance(event, Deregistered):
        return f"deregistered {event.endpoint} id={event.registration.registration_id}"
    if isinstance(event, Expired):
        return f"expired {event.endpoint} id={event.registration.registration_id}"
    if isinstance(event, Notification):
        if event.content is None:
            shown = f"undecodable ({event.error}) 0x{event.payload.hex()}"
        else:
            shown = _content(event.content, event.path)
        return f"notification {event.endpoint} {event.path} seq={event.sequence} {shown}"
    if isinstance(event, ObservationEnded):
        return f"observation-ended {event.endpoint} {event.path} ({event.reason})"
    if isinstance(event, Awake):
        return f"awake {event.endpoint}"
    if isinstance(event, Sleeping):
        return f"sleeping {event.endpoint}"
    if isinstance(event, BootstrapRequested):
        return f"bootstrap-requested {event.endpoint}"
    if isinstance(event, BootstrapFinished):
        return f"bootstrap-finished {event.endpoint}"
    if isinstance(event, BootstrapFailed):
        return f"bootstrap-failed {event.endpoint}: {event.reason}"
    raise TypeError(f"not a server event: {event!r}")


# -- running -----------------------------------------------------------------------------------


def _say(*lines: str, error: bool = False) -> None:
    # One event, one line: whatever a peer put into it (a notification's value, a reason)
    # is escaped so that it cannot start a line of its own. Lines given together are written
    # and flushed together: one write for a burst of events, not one per line.
    text = "".join(printable(line, limit=4000) + "\n" for line in lines)
    stream = sys.stderr if error else sys.stdout
    with contextlib.suppress(BrokenPipeError):  # whoever reads us went away; keep serving
        stream.write(text)
        stream.flush()


def _bootstrap_configs(
    entries: Sequence[tuple[str, ServerAccount]],
) -> dict[str, BootstrapConfig]:
    accounts: dict[str, list[ServerAccount]] = {}
    for endpoint, account in entries:
        accounts.setdefault(endpoint, []).append(account)
    configs = {}
    for endpoint, listed in accounts.items():
        numbered = [
            ServerAccount(
                uri=account.uri,
                short_server_id=index + 1,
                psk_identity=account.psk_identity,
                psk_key=account.psk_key,
            )
            for index, account in enumerate(listed)
        ]
        configs[endpoint] = BootstrapConfig(servers=tuple(numbered))
    return configs


async def _observe(server: LwM2MServer, endpoint: str, paths: Sequence[LwM2MPath]) -> None:
    for path in paths:
        try:
            await server.observe(endpoint, path)
            _say(f"observing {endpoint} {path}")
        except (ServerApiError, ValueError) as exc:
            _say(f"observe {endpoint} {path} failed: {exc}")


async def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM (or until the task is cancelled)."""
    if args.no_coap and args.coaps is None and args.bootstrap is None:
        raise ValueError("--no-coap leaves no listener: add --coaps or --bootstrap")
    keys = [entry for listed in args.psk_file for entry in listed]
    keys += psk_entries(os.environ.get(PSK_ENV, ""), f"${PSK_ENV}")
    keys += args.psk
    server = await LwM2MServer.start(
        coap=None if args.no_coap else args.coap,
        coaps=args.coaps,
        bootstrap=args.bootstrap,
        psk={endpoint: (identity, key) for endpoint, identity, key in keys},
        max_registrations=args.max_registrations,
        max_link_bytes=args.max_link_bytes,
        bootstrap_configs=_bootstrap_configs(args.bootstrap_config),
        awake_time=args.awake_time,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    observers: set[asyncio.Task[None]] = set()
    http: Any = None
    try:
        for name in server.listeners:
            _say(f"listening {name} {server.uri(name)}")
        if args.http is not None:
            from emulator.adapters.lwm2m_server.rest import (
                start_http,  # aiohttp is loaded only when asked for
            )

            token = args.http_token or os.environ.get(HTTP_TOKEN_ENV) or None
            http = await start_http(server, *args.http, token=token)
            _say(f"listening http {http.url}")
        # What is built so far (the imports, the listeners, the HTTP face) lives as long as
        # the process: frozen, a full collection walks only what came after it, which in a
        # registration storm is thousands of registrations arriving at full speed.
        gc.collect()
        gc.freeze()
        _say("ready")
        with server.subscribe() as events:
            stopping = asyncio.ensure_future(stop.wait())
            while not stop.is_set():
                getting = asyncio.ensure_future(events.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    break
                # Whatever else has arrived meanwhile goes out with it (a registration storm
                # queues thousands of events a second).
                batch = [getting.result()]
                while not events.queue.empty():
                    batch.append(events.queue.get_nowait())
                _say(*(describe(event) for event in batch))
                for event in batch:
                    if isinstance(event, Registered | Updated) and args.observe:
                        known = {o.path for o in server.observations(event.endpoint)}
                        wanted = [path for path in args.observe if path not in known]
                        if wanted:
                            task = loop.create_task(_observe(server, event.endpoint, wanted))
                            observers.add(task)
                            task.add_done_callback(observers.discard)
    finally:
        for task in list(observers):
            task.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if http is not None:
            await http.stop()
        await server.stop()
    _say("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """``func`` of the ``server`` sub-command: serve, then return the exit status."""
    try:
        return asyncio.run(serve(args))
    except (OSError, ValueError) as exc:  # a port in use, an address we cannot bind...
        _say(f"quecemu server: error: {exc}", error=True)
        return 1
    except KeyboardInterrupt:  # SIGINT before the handler was installed
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m emulator.app.server_cli [options]``."""
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
