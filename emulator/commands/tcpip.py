"""Quectel's TCP/IP AT commands ("EC2x&EG9x TCP(IP) AT Commands Manual", "EC200U&EG915U
Series TCP/IP Application Note"): AT+QIOPEN, AT+QICLOSE, AT+QISTATE, AT+QISEND,
AT+QISENDEX, AT+QIRD, AT+QISDE, AT+QIGETERROR, AT+QIDNSCFG, AT+QIDNSGIP, AT+QPING, AT+QNTP,
AT+QISWTMD, AT+QICFG ("transpktsize", "transwaittm") and ATO.
(AT+QICSGP / AT+QIACT / AT+QIDEACT live in the ``pdp`` family; this family reacts to their
context going down.)

The connection table is :class:`emulator.tcpip.core.TcpipCore`, the module's ``"tcpip"``
component; its socket adapter (:mod:`emulator.adapters.sockets`) is this family's service.
A refused command answers ``ERROR`` and AT+QIGETERROR tells why (552 invalid parameters, 567 socket
has been closed...), or ``+CME ERROR: <code>`` with ``"sync_errors": "CME"`` in the
profile's ``tcpip`` section. Transparent access mode (``<access_mode>`` 2): AT+QIOPEN answers
``CONNECT`` once connected (or ``ERROR``), then the port carries the connection's bytes until
``+++`` with its guard times (the engine's online data mode) or ``NO CARRIER``.
"""

from __future__ import annotations

import binascii
import ipaddress
from collections.abc import Callable

from emulator.at.errors import AtError, IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, DataInput, Response
from emulator.commands.context import CommandContext
from emulator.module.events import (
    ModuleEvent,
    PdpContextChanged,
    PoweredDown,
    RebootStarted,
)
from emulator.module.routing import EventTypes
from emulator.module.virtual import VirtualModule
from emulator.tcpip.core import AccessMode, SocketError, TcpipCore, TcpipRefused
from emulator.tcpip.events import ServiceType
from emulator.tcpip.settings import TcpipSettings

COMPONENT = "tcpip"
MAX_HOST = 150  # <IP_address>/<domain_name> length (TCP(IP) manual: at most 150 bytes)
SERVICES = {s.value: s for s in ServiceType if s is not ServiceType.TCP_INCOMING}
PROMPT = b"\r\n> "


__all__ = ["TcpipRefused", "core_for", "register"]


def core_for(module: VirtualModule) -> TcpipCore:
    return module.component(
        COMPONENT,
        lambda: TcpipCore(module=module, settings=TcpipSettings.from_profile(module.profile)),
    )


#: Every event class ``attach``'s observer looks at: the module hands it only these.
OBSERVED_EVENTS: EventTypes = (PdpContextChanged, RebootStarted, PoweredDown)


def attach(module: VirtualModule) -> None:
    """Follow the module: a context going down closes its sockets; a reboot all of them."""

    def observer(event: ModuleEvent, now: float) -> None:
        if COMPONENT not in module.components:
            return  # no socket was ever opened
        core = core_for(module)
        if isinstance(event, PdpContextChanged) and not event.active:
            core.context_down(event.cid, event.by_network, now)
        elif isinstance(event, RebootStarted | PoweredDown):
            core.reset()

    module.observe(observer, OBSERVED_EVENTS)


Handler = Callable[[CommandContext, Args], Response | list[str] | None]


def guarded(handler: Handler) -> Handler:
    """Parameter and socket errors become the family's refusal (one place)."""

    def run(ctx: CommandContext, args: Args) -> Response | list[str] | None:
        core = core_for(ctx.module)
        try:
            return handler(ctx, args)
        except IncorrectParameters as exc:
            raise refusal(core, SocketError(552, exc.reason or "invalid parameters")) from None
        except SocketError as exc:
            raise refusal(core, exc) from None

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def refusal(core: TcpipCore, error: SocketError) -> AtError:
    return core.at_error(error)


def _connect_id(core: TcpipCore, args: Args, index: int) -> int:
    return args.int(index, 0, core.settings.max_connect_id)


# ------------------------------------------------------------------- AT+QIOPEN
def qiopen_write(ctx: CommandContext, args: Args) -> Response | None:
    """``AT+QIOPEN=<contextID>,<connectID>,<service_type>,<IP_address>/<domain_name>,
    <remote_port>[,<local_port>[,<access_mode>]]``: OK, then ``+QIOPEN: <id>,<err>``;
    in transparent access mode ``CONNECT`` once connected, or ``ERROR``."""
    core = core_for(ctx.module)
    args.count(5, 7)
    context_id = args.int(0, 1, core.settings.max_context_id)
    connect_id = _connect_id(core, args, 1)
    service = SERVICES[args.str(2, max_len=16, choices=tuple(SERVICES), case_insensitive=True)]
    host = args.str(3, max_len=MAX_HOST)
    remote_port = args.int(4, 0, 65535)
    local_port = args.int(5, 0, 65535, default=0)
    mode = AccessMode(args.int(6, 0, 2, default=0))
    if service in (ServiceType.TCP, ServiceType.UDP) and (remote_port == 0 or not host):
        raise SocketError(552, "a client needs a host and a remote port")
    if service in (ServiceType.TCP_LISTENER, ServiceType.UDP_SERVICE) and local_port == 0:
        raise SocketError(552, "a server needs a local port")
    core.open(context_id, connect_id, service, host, remote_port, local_port, mode, ctx.now)
    if mode is AccessMode.TRANSPARENT:
        return Response(final=None, deferred=True)  # CONNECT or ERROR when the link decides
    return None


def qiopen_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [
        f"+QIOPEN: (1-{s.max_context_id}),(0-{s.max_connect_id}),"
        '"TCP/UDP/TCP LISTENER/UDP SERVICE","<IP_address>/<domain_name>",<remote_port>,'
        "<local_port>,(0-2)"
    ]


# ------------------------------------------------------------------ AT+QICLOSE
def qiclose_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QICLOSE=<connectID>[,<timeout>]``."""
    core = core_for(ctx.module)
    args.count(1, 2)
    connect_id = _connect_id(core, args, 0)
    args.int(1, 0, 65535, default=10)
    core.close(connect_id, ctx.now)


def qiclose_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QICLOSE: (0-{core_for(ctx.module).settings.max_connect_id}),(0-65535)"]


# ------------------------------------------------------------------ AT+QISTATE
def _state_lines(core: TcpipCore, keep: Callable[[int, int], bool]) -> list[str]:
    lines = []
    for connect_id in sorted(core.connections):
        c = core.connections[connect_id]
        if not keep(c.connect_id, c.context_id):
            continue
        lines.append(
            f'+QISTATE: {c.connect_id},"{c.service.value}","{c.host}",{c.remote_port},'
            f"{c.local_port},{int(c.state)},{c.context_id},{c.server_id},"
            f'{int(c.access_mode)},"{core.settings.at_port}"'
        )
    return lines


def qistate_all(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+QISTATE?`` / ``AT+QISTATE``: every socket."""
    return _state_lines(core_for(ctx.module), lambda _i, _c: True)


def qistate_write(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+QISTATE=0,<contextID>`` or ``AT+QISTATE=1,<connectID>``."""
    core = core_for(ctx.module)
    args.count(2)
    kind = args.int(0, 0, 1)
    if kind == 0:
        context_id = args.int(1, 1, core.settings.max_context_id)
        return _state_lines(core, lambda _i, c: c == context_id)
    connect_id = _connect_id(core, args, 1)
    return _state_lines(core, lambda i, _c: i == connect_id)


def qistate_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QISTATE: (0,1),(1-{s.max_context_id})/(0-{s.max_connect_id})"]


# ------------------------------------------------------------------- AT+QISEND
def qisend_write(ctx: CommandContext, args: Args) -> Response | list[str]:
    """``AT+QISEND=<id>`` (Ctrl-Z ends the data), ``AT+QISEND=<id>,<len>`` (fixed length),
    ``AT+QISEND=<id>,<len>,"<remoteIP>",<remote_port>`` (UDP SERVICE) and
    ``AT+QISEND=<id>,0`` (``+QISEND: <total>,<acked>,<unacked>``)."""
    core = core_for(ctx.module)
    args.count(1, 4)
    if len(args) == 3:
        raise SocketError(552, "<remoteIP> needs <remote_port>")
    connect_id = _connect_id(core, args, 0)
    length = args.int(1, 0, 65535) if args.present(1) else None
    if length == 0 and len(args) == 2:
        total, acked, unacked = core.send_counters(connect_id)
        return [f"+QISEND: {total},{acked},{unacked}"]
    remote: tuple[str, int] | None = None
    if len(args) == 4:
        remote = (args.str(2, max_len=64), args.int(3, 1, 65535))
    limit = core.settings.max_send
    if length is not None and not 1 <= length <= limit:
        raise SocketError(552, f"<send_length> is 1-{limit}")
    core.check_send(connect_id, remote)

    def deliver(data: bytes, now: float) -> Response:
        if len(data) > limit:
            core.last_error = 552
            return Response(final="ERROR")
        if not data and length is None:
            return Response(final="ERROR")  # Ctrl-Z with no data: nothing to send
        try:
            sent = core.send(connect_id, data, remote, now)
        except SocketError as exc:
            core.last_error = exc.code
            return Response(final="ERROR")  # the socket went away while the host typed
        return Response(final="SEND OK" if sent else "SEND FAIL")

    def cancel(now: float) -> Response:
        core.last_error = 571
        return Response(final=core.settings.send_cancel_result)

    return Response(
        final=None,
        data_input=DataInput(
            prompt=PROMPT,
            length=length,
            on_data=deliver,
            on_cancel=cancel,
            max_length=limit,
            echo=core.send_echo,
        ),
    )


def qisend_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QISEND: (0-{s.max_connect_id}),(0-{s.max_send})"]


def qisendex_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QISENDEX=<connectID>,"<hex_string>"``: binary data written as hex digits."""
    core = core_for(ctx.module)
    args.count(2)
    connect_id = _connect_id(core, args, 0)
    text = args.str(1, max_len=2 * core.settings.max_send_hex)
    try:
        data = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise SocketError(552, "<hex_string> is not an even number of hex digits") from None
    if not data:
        raise SocketError(552, "<hex_string> is empty")
    sent = core.send(connect_id, data, None, ctx.now)
    return Response(final="SEND OK" if sent else "SEND FAIL")


def qisendex_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QISENDEX: (0-{s.max_connect_id}),<hex_string>"]


# --------------------------------------------------------------------- AT+QIRD
def qird_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QIRD=<connectID>[,<read_length>]``: ``+QIRD: <len>`` and the data (for UDP
    SERVICE ``+QIRD: <len>,"<remoteIP>",<remote_port>``); ``<read_length>`` 0 gives
    ``+QIRD: <total_receive_length>,<have_read_length>,<unread_length>``."""
    core = core_for(ctx.module)
    args.count(1, 2)
    connect_id = _connect_id(core, args, 0)
    length = args.int(1, 0, core.settings.max_read, default=core.settings.default_read)
    if length == 0:
        total, read, unread = core.read_counters(connect_id)
        return Response(lines=[f"+QIRD: {total},{read},{unread}"])
    data, source = core.read(connect_id, length, ctx.now)
    if not data:
        return Response(lines=["+QIRD: 0"])
    head = f"+QIRD: {len(data)}"
    if source is not None:
        head += f',"{source[0]}",{source[1]}'
    return Response(lines=[head], data=data + b"\r\n")


def qird_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QIRD: (0-{s.max_connect_id}),(0-{s.max_read})"]


# --------------------------------------------------------- AT+QISDE, AT+QIGETERROR
def qisde_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QISDE=<echo>``: echo the data typed at AT+QISEND's prompt (while ATE1)."""
    args.count(1)
    core_for(ctx.module).send_echo = bool(args.int(0, 0, 1))


def qisde_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QISDE: {int(core_for(ctx.module).send_echo)}"]


def qisde_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QISDE: (0,1)"]


def qigeterror_exec(ctx: CommandContext, args: Args) -> list[str]:
    """``+QIGETERROR: <err>,<description>`` of the last TCP/IP operation."""
    core = core_for(ctx.module)
    return [f"+QIGETERROR: {core.last_error},{core.settings.error_text(core.last_error)}"]


def qigeterror_test(ctx: CommandContext, args: Args) -> None:
    return None


# ------------------------------------------------------------------------ DNS
def qidnscfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QIDNSCFG=<contextID>[,<pridnsaddr>[,<secdnsaddr>]]``; the ID alone reads.
    The servers are reported as set; names resolve through the virtual network map."""
    core = core_for(ctx.module)
    args.count(1, 3)
    context_id = args.int(0, 1, core.settings.max_context_id)
    if len(args) == 1:
        primary, secondary = core.dns_servers.get(context_id, core.settings.dns_servers)
        return [f'+QIDNSCFG: {context_id},"{primary}","{secondary}"']
    primary = args.str(1, max_len=64)
    secondary = args.str(2, max_len=64, default="0.0.0.0")
    for address in (primary, secondary):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SocketError(552, f"{address!r} is not an IP address") from None
    core.dns_servers[context_id] = (primary, secondary)
    return None


def qidnscfg_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QIDNSCFG: (1-{s.max_context_id}),<pridnsaddr>,<secdnsaddr>"]


def qidnsgip_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QIDNSGIP=<contextID>,<hostname>``: OK, then ``+QIURC: "dnsgip",...``."""
    core = core_for(ctx.module)
    args.count(2)
    context_id = args.int(0, 1, core.settings.max_context_id)
    host = args.str(1, max_len=MAX_HOST)
    if not host:
        raise SocketError(552, "empty host name")
    core.dns_query(context_id, host, ctx.now)


def qidnsgip_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QIDNSGIP: (1-{core_for(ctx.module).settings.max_context_id}),<hostname>"]


# ------------------------------------------------------------------ ping, NTP
def qping_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QPING=<contextID>,<host>[,<timeout>[,<pingnum>]]``: OK, then a ``+QPING:``
    per request and the statistics line."""
    core = core_for(ctx.module)
    args.count(2, 4)
    context_id = args.int(0, 1, core.settings.max_context_id)
    host = args.str(1, max_len=MAX_HOST)
    timeout = args.int(2, 1, 255, default=4)
    count = args.int(3, 1, 10, default=4)
    core.ping(context_id, host, float(timeout), count, ctx.now)


def qping_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QPING: (1-{core_for(ctx.module).settings.max_context_id}),<host>,(1-255),(1-10)"]


def qntp_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QNTP=<contextID>,<server>[,<port>[,<autosettime>]]``: OK, then
    ``+QNTP: <err>,"<time>"``; ``<autosettime>`` 1 (default) sets the module clock."""
    core = core_for(ctx.module)
    args.count(2, 4)
    context_id = args.int(0, 1, core.settings.max_context_id)
    host = args.str(1, max_len=MAX_HOST)
    port = args.int(2, 1, 65535, default=123)
    set_clock = bool(args.int(3, 0, 1, default=1))
    core.ntp(context_id, host, port, set_clock, ctx.now)


def qntp_read(ctx: CommandContext, args: Args) -> list[str]:
    running = core_for(ctx.module).ntp_running()
    return [] if running is None else [f'+QNTP: "{running[0]}",{running[1]}']


def qntp_test(ctx: CommandContext, args: Args) -> list[str]:
    s = core_for(ctx.module).settings
    return [f"+QNTP: (1-{s.max_context_id}),<server>,(1-65535),(0,1)"]


# --------------------------------------------------------------------- wiring
# ---------------------------------------------- access modes: AT+QISWTMD, ATO, AT+QICFG
def qiswtmd_write(ctx: CommandContext, args: Args) -> Response | None:
    """``AT+QISWTMD=<connectID>,<access_mode>``: OK for buffer access / direct push;
    ``CONNECT`` and the port carries the connection for transparent access."""
    core = core_for(ctx.module)
    args.count(2)
    connect_id = _connect_id(core, args, 0)
    mode = AccessMode(args.int(1, 0, 2))
    if mode is AccessMode.TRANSPARENT:
        return Response(final="CONNECT", online=core.go_online(connect_id, ctx.now))
    core.switch_mode(connect_id, mode, ctx.now)
    return None


def qiswtmd_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QISWTMD: (0-{core_for(ctx.module).settings.max_connect_id}),(0-2)"]


def ato(ctx: CommandContext, args: Args) -> Response:
    """``ATO``: back to the transparent connection ``+++`` left (V.250 §6.3.7); ``NO
    CARRIER`` when it has gone meanwhile."""
    core = core_for(ctx.module)
    if args.values and args.values[0] != 0:
        raise SocketError(552, "ATO takes only 0")
    try:
        return Response(final="CONNECT", online=core.resume(ctx.now))
    except SocketError as exc:
        if exc.code == 567:
            return Response(final="NO CARRIER")
        raise


QICFG_RANGES = {"transpktsize": (1, 1460), "transwaittm": (0, 20)}


def qicfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QICFG="transpktsize"[,<size>]``, ``AT+QICFG="transwaittm"[,<100 ms>]``: the
    transparent mode's packet size and wait (read back without the value)."""
    core = core_for(ctx.module)
    args.count(1, 2)
    name = args.str(0, max_len=16, choices=tuple(QICFG_RANGES), case_insensitive=True).lower()
    low, high = QICFG_RANGES[name]
    current = core.packet_size if name == "transpktsize" else core.wait_units
    if len(args.values) == 1:
        return [f'+QICFG: "{name}",{current}']
    value = args.int(1, low, high)
    if name == "transpktsize":
        core.packet_size = value
    else:
        core.wait_units = value
    core.succeed()
    return None


def qicfg_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QICFG: "{name}",({low}-{high})' for name, (low, high) in QICFG_RANGES.items()]


def register(registry: CommandRegistry) -> None:
    table: list[tuple[str, Form, Handler]] = [
        ("+QIOPEN", Form.WRITE, qiopen_write),
        ("+QIOPEN", Form.TEST, qiopen_test),
        ("+QICLOSE", Form.WRITE, qiclose_write),
        ("+QICLOSE", Form.TEST, qiclose_test),
        ("+QISTATE", Form.READ, qistate_all),
        ("+QISTATE", Form.EXEC, qistate_all),
        ("+QISTATE", Form.WRITE, qistate_write),
        ("+QISTATE", Form.TEST, qistate_test),
        ("+QISEND", Form.WRITE, qisend_write),
        ("+QISEND", Form.TEST, qisend_test),
        ("+QISENDEX", Form.WRITE, qisendex_write),
        ("+QISENDEX", Form.TEST, qisendex_test),
        ("+QIRD", Form.WRITE, qird_write),
        ("+QIRD", Form.TEST, qird_test),
        ("+QISDE", Form.WRITE, qisde_write),
        ("+QISDE", Form.READ, qisde_read),
        ("+QISDE", Form.TEST, qisde_test),
        ("+QIGETERROR", Form.EXEC, qigeterror_exec),
        ("+QIGETERROR", Form.TEST, qigeterror_test),
        ("+QIDNSCFG", Form.WRITE, qidnscfg_write),
        ("+QIDNSCFG", Form.TEST, qidnscfg_test),
        ("+QIDNSGIP", Form.WRITE, qidnsgip_write),
        ("+QIDNSGIP", Form.TEST, qidnsgip_test),
        ("+QPING", Form.WRITE, qping_write),
        ("+QPING", Form.TEST, qping_test),
        ("+QNTP", Form.WRITE, qntp_write),
        ("+QNTP", Form.READ, qntp_read),
        ("+QNTP", Form.TEST, qntp_test),
        ("+QISWTMD", Form.WRITE, qiswtmd_write),
        ("+QISWTMD", Form.TEST, qiswtmd_test),
        ("O", Form.EXEC, ato),
        ("+QICFG", Form.WRITE, qicfg_write),
        ("+QICFG", Form.TEST, qicfg_test),
    ]
    for name, form, handler in table:
        registry.add(name, form, guarded(handler))
