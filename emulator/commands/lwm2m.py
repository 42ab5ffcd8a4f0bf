"""LwM2M AT commands, the "QLWCFG server/security" dialect of Quectel's EC2x/EG25-G client:
``AT+QLWCFG``, ``AT+QLWREG``, ``AT+QLWDEREG``, ``AT+QLWUPDATE``, ``AT+QLWSTAT``.

``AT+QLWCFG="<name>",<params>`` writes a sub-command, ``AT+QLWCFG="<name>"`` reads it and
``AT+QLWCFG=?`` lists every sub-command of the profile in the line format captured on an
EG25-G (public dumps of real modules). Parameters out of range → ``+CME ERROR: 50``; a
sub-command this firmware build lacks → ``+CME ERROR: 4`` (which QuecPython's ``config``
reports as -2); a change the running client cannot take → ``+CME ERROR: 3``. The work
happens in :class:`emulator.lwm2m.client.LwM2MClient`, the module's ``"lwm2m"`` component;
its CoAP adapter (:mod:`emulator.adapters.lwm2m_client`) is this family's service.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from emulator.at.errors import IncorrectParameters, OperationNotAllowed, OperationNotSupported
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, Handler, Response
from emulator.at.text import at_string
from emulator.commands.context import CommandContext
from emulator.lwm2m.client.client import LwM2MClient
from emulator.lwm2m.client.config import (
    MODE_PSK,
    ConfigError,
    HostDevice,
    SecurityEntry,
    ServerEntry,
)
from emulator.lwm2m.client.errors import ClientStateError
from emulator.lwm2m.client.events import (
    ApnAuthenticationWritten,
    ApnTextWritten,
    CurrentTimeWritten,
    FirmwareDownloaded,
    FirmwarePackageOffered,
    LifetimeWritten,
    LwM2MNotice,
    NoticeKind,
    Outcome,
    PdpResult,
    ServerResult,
    StepStarted,
)
from emulator.lwm2m.client.settings import ClientSettings
from emulator.module.events import ModuleEvent
from emulator.module.profile import ProfileError
from emulator.module.routing import EventTypes
from emulator.module.virtual import VirtualModule

COMPONENT = "lwm2m"
MAX_ADDRESS = 256  # QuecPython document: server_addr at most 256 characters
MAX_PSK_FIELD = 256  # QuecOpen lwm2m_server_info_t: psk id/key 256 bytes
MAX_EPNAME = 64  # Helios strEpname[64]
MAX_HOST_FIELD = 64


def client_for(module: VirtualModule) -> LwM2MClient:
    """The module's LwM2M client (created on first use from the profile's "lwm2m" section)."""
    if COMPONENT in module.components:  # the usual case, asked for every +QLWURC
        client: LwM2MClient = module.components[COMPONENT]
        return client

    def create() -> LwM2MClient:
        try:
            settings = ClientSettings.from_profile(module.profile)
        except ProfileError as exc:
            raise OperationNotSupported(str(exc)) from None
        return LwM2MClient(module, settings)

    return module.component(COMPONENT, create)


# ---------------------------------------------------------------- +QLWURC
# The client's notices as the host sees them: QuecPython's lwm2m document, "Event-Description".
URC_PREFIX = "+QLWURC: "
RESULT_TEXT = {Outcome.SUCCESS: "successfully", Outcome.FAILURE: "failed"}
DEREGISTER_CODE = {Outcome.SUCCESS: 0, Outcome.FAILURE: 1}  # the document's <code>
APN_TEXT_FIELD = {
    NoticeKind.APN_CHANGED: "apn",
    NoticeKind.USER_NAME_CHANGED: "user",
    NoticeKind.SECRET_CHANGED: "password",
}


def urc_fields(notice: LwM2MNotice) -> dict[str, object]:
    """The values a notice gives its URC template (the profile's ``"urcs"``; the names are
    ``settings.URC_FIELDS``)."""
    match notice:
        case StepStarted():
            return {}
        case PdpResult(outcome=outcome, apn=apn):
            return {"result": RESULT_TEXT[outcome], "apn": apn}
        case ServerResult(outcome=outcome, ssid=ssid):
            return {"result": RESULT_TEXT[outcome], "code": DEREGISTER_CODE[outcome], "ssid": ssid}
        case FirmwarePackageOffered(uri=uri):
            return {"url": uri}
        case FirmwareDownloaded(size=size):
            return {"size": size}
        case ApnTextWritten(kind=kind, text=text):
            return {APN_TEXT_FIELD[kind]: text}
        case ApnAuthenticationWritten(authentication=authentication):
            return {"type": int(authentication)}
        case LifetimeWritten(lifetime=lifetime):
            return {"lifetime": lifetime}
        case CurrentTimeWritten(unix_time=unix_time):
            return {"time": unix_time}
    raise TypeError(f"no URC fields for {notice!r}")


def render_urc(notice: LwM2MNotice, settings: ClientSettings) -> str | None:
    """The ``+QLWURC`` line of ``notice`` (without CR LF), or None when the profile's
    template for it is null (this firmware build does not report it)."""
    template = settings.urcs.get(notice.kind.value)
    if template is None:
        return None
    # Server text never breaks the framing: quotes and control characters are escaped.
    fields = {name: at_string(value) for name, value in urc_fields(notice).items()}
    return URC_PREFIX + template.format(**fields)


#: Every event class ``_on_event`` looks at: the module hands it only these.
OBSERVED_EVENTS: EventTypes = (LwM2MNotice,)


def _on_event(module: VirtualModule, event: ModuleEvent, now: float) -> None:
    if not isinstance(event, LwM2MNotice):
        return
    client = client_for(module)
    if not client.config.urc:  # AT+QLWCFG="urc",0 silences every +QLWURC
        return
    text = render_urc(event, client.settings)
    if text is not None:
        module.raise_urc(text, now)


def attach(module: VirtualModule) -> None:
    """Show the client's notices on the AT port (the module calls this for its families)."""
    # A partial, not a lambda: one Python frame less for every notice of every module.
    module.observe(functools.partial(_on_event, module), OBSERVED_EVENTS)


# ------------------------------------------------------------ parameter specs
@dataclass(frozen=True)
class IntRange:
    lo: int
    hi: int

    def render(self) -> str:
        return f"({self.lo}-{self.hi})"

    def take(self, args: Args, index: int) -> int:
        return args.int(index, self.lo, self.hi)


@dataclass(frozen=True)
class IntSet:
    values: tuple[int, ...]

    def render(self) -> str:
        return "(" + ",".join(str(v) for v in self.values) + ")"

    def take(self, args: Args, index: int) -> int:
        return args.int(index, min(self.values), max(self.values), allowed=self.values)


@dataclass(frozen=True)
class Text:
    label: str
    max_len: int

    def render(self) -> str:
        return f"<{self.label}>"

    def take(self, args: Args, index: int) -> str:
        return args.str(index, max_len=self.max_len)


@dataclass(frozen=True)
class Number:
    """An integer shown by name in the test form (e.g. ``<upgrade_time>``)."""

    label: str
    lo: int
    hi: int

    def render(self) -> str:
        return f"<{self.label}>"

    def take(self, args: Args, index: int) -> int:
        return args.int(index, self.lo, self.hi)


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def render(self) -> str:
        return "(" + ",".join(f'"{v}"' for v in self.values) + ")"

    def take(self, args: Args, index: int) -> str:
        return args.str(index, max_len=8, choices=self.values)


Param = IntRange | IntSet | Text | Number | Choice
SECONDS = IntRange(1, 86400)
FLAG = IntSet((0, 1))


def specs(settings: ClientSettings) -> dict[str, tuple[Param, ...]]:
    """Parameters of each sub-command (EG25-G's ``AT+QLWCFG=?``); the ranges a
    server write must also respect come from the profile's ``"limits"``."""
    limits = settings.limits
    return {
        "security": (
            IntRange(0, 3),
            IntRange(1, 65535),
            Text("server_addr", MAX_ADDRESS),
            FLAG,
            IntSet(settings.security_modes),
            Text("pskID", MAX_PSK_FIELD),
            Text("psk_key", MAX_PSK_FIELD),
        ),
        "server": (
            IntRange(0, 3),
            IntRange(*limits.lifetime),
            IntRange(*limits.pmin),
            IntRange(*limits.pmax),
            IntRange(*limits.disable_timeout),
            FLAG,
            Choice(settings.bindings),
        ),
        "epname/mode": (IntSet(tuple(sorted(settings.epname_modes))),),
        "epname": (Text("epname", MAX_EPNAME),),
        "urc": (FLAG,),
        "startup": (FLAG,),
        "fota": (FLAG, FLAG),
        "hostdevice": (
            FLAG,
            Text("deviceID", MAX_HOST_FIELD),
            Text("manufacturer", MAX_HOST_FIELD),
            Text("model", MAX_HOST_FIELD),
            Text("sw_version", MAX_HOST_FIELD),
            Text("fw_version", MAX_HOST_FIELD),
            Text("hw_version", MAX_HOST_FIELD),
            Number("upgrade_time", 0, 2**31 - 1),
        ),
        "reset": (),
        "nettype": (IntRange(0, 2),),
        "maxreconntime": (SECONDS, IntRange(2, 86400), IntRange(0, 86400)),
        "apnretry": (FLAG, IntRange(0, 16), IntRange(0, 86400)),
    }


# ------------------------------------------------------------------ AT+QLWCFG
def qlwcfg_test(ctx: CommandContext, args: Args) -> list[str]:
    client = client_for(ctx.module)
    table = specs(client.settings)
    lines = []
    for name in client.settings.subcommands:
        params = "".join("," + p.render() for p in table[name])
        lines.append(f'+QLWCFG: "{name}"{params}')
    return lines


def qlwcfg_write(ctx: CommandContext, args: Args) -> Response | list[str] | None:
    client = client_for(ctx.module)
    name = args.str(0, max_len=32).lower()
    if name not in client.settings.subcommands:
        raise OperationNotSupported(f"sub-command {name!r} is not supported by this firmware")
    rest = Args(args.values[1:])
    try:
        return _SUBCOMMANDS[name](client, rest, ctx.now)
    except ConfigError as exc:
        raise IncorrectParameters(str(exc)) from None


def _take(client: LwM2MClient, name: str, args: Args) -> list[int | str]:
    params = specs(client.settings)[name]
    args.count(len(params))
    return [param.take(args, index) for index, param in enumerate(params)]


def _security(client: LwM2MClient, args: Args, now: float) -> list[str] | None:
    config = client.config
    if len(args) == 0:
        return [_security_line(e) for _, e in sorted(config.security.items())]
    params = specs(client.settings)["security"]
    server_id = params[0].take(args, 0)
    assert isinstance(server_id, int)
    if len(args) == 1:
        # QuecPython config(Security, [id]) "must clear dirty config": drop that instance.
        client.clear_security(server_id)
        return None
    args.count(5, 7)
    values = [param.take(args, i) for i, param in enumerate(params[:5])]
    mode = values[4]
    identity = key = ""
    if mode == MODE_PSK:
        args.count(7)
        identity = args.str(5, max_len=MAX_PSK_FIELD)
        key = args.str(6, max_len=MAX_PSK_FIELD)
    entry = SecurityEntry(
        server_id=server_id,
        ssid=int(values[1]),
        address=str(values[2]),
        bootstrap=bool(values[3]),
        mode=int(mode),
        psk_identity=identity,
        psk_key=key,
    )
    client.set_security(entry)
    return None


def _security_line(e: SecurityEntry) -> str:
    line = (
        f'+QLWCFG: "security",{e.server_id},{e.ssid},"{at_string(e.address)}",'
        f"{int(e.bootstrap)},{e.mode}"
    )
    if e.mode == MODE_PSK:
        line += f',"{at_string(e.psk_identity)}","{at_string(e.psk_key)}"'
    return line


def _server(client: LwM2MClient, args: Args, now: float) -> list[str] | None:
    config = client.config
    if len(args) == 0:
        return [
            f'+QLWCFG: "server",{s.server_id},{s.lifetime},{s.pmin},{s.pmax},'
            f'{s.disable_timeout},{s.storing},"{s.binding}"'
            for _, s in sorted(config.servers.items())
        ]
    server_id = IntRange(0, 3).take(args, 0)
    if len(args) == 1:
        client.clear_server(server_id)
        return None
    v = _take(client, "server", args)
    client.set_server(
        ServerEntry(
            server_id=int(v[0]),
            lifetime=int(v[1]),
            pmin=int(v[2]),
            pmax=int(v[3]),
            disable_timeout=int(v[4]),
            storing=int(v[5]),
            binding=str(v[6]),
        ),
        now,
    )
    return None


def _simple(
    name: str,
    read: Callable[[LwM2MClient], list[int | str]],
    write: Callable[[LwM2MClient, list[int | str]], None],
) -> Callable[[LwM2MClient, Args, float], list[str] | None]:
    """A sub-command whose read form prints its values and whose write form sets them."""

    def handler(client: LwM2MClient, args: Args, now: float) -> list[str] | None:
        if len(args) == 0:
            shown = ",".join(
                f'"{at_string(v)}"' if isinstance(v, str) else str(v) for v in read(client)
            )
            return [f'+QLWCFG: "{name}",{shown}']
        write(client, _take(client, name, args))
        return None

    return handler


def _reset(client: LwM2MClient, args: Args, now: float) -> list[str] | None:
    args.count(0)
    client.reset_config()
    return None


def _host_values(client: LwM2MClient) -> list[int | str]:
    h = client.config.hostdevice
    if h is None:
        return [0, "", "", "", "", "", "", 0]
    return [
        h.index,
        h.device_id,
        h.manufacturer,
        h.model,
        h.sw_version,
        h.fw_version,
        h.hw_version,
        h.upgrade_time,
    ]


def _set_host(client: LwM2MClient, v: list[int | str]) -> None:
    client.set_options(
        hostdevice=HostDevice(
            index=int(v[0]),
            device_id=str(v[1]),
            manufacturer=str(v[2]),
            model=str(v[3]),
            sw_version=str(v[4]),
            fw_version=str(v[5]),
            hw_version=str(v[6]),
            upgrade_time=int(v[7]),
        )
    )


def _triple(v: list[int | str]) -> tuple[int, int, int]:
    return int(v[0]), int(v[1]), int(v[2])


_SUBCOMMANDS: dict[str, Callable[[LwM2MClient, Args, float], list[str] | None]] = {
    "security": _security,
    "server": _server,
    "epname/mode": _simple(
        "epname/mode",
        lambda c: [c.config.epname_mode],
        lambda c, v: c.set_options(epname_mode=int(v[0])),
    ),
    "epname": _simple(
        "epname", lambda c: [c.config.epname], lambda c, v: c.set_options(epname=str(v[0]))
    ),
    "urc": _simple("urc", lambda c: [c.config.urc], lambda c, v: c.set_options(urc=int(v[0]))),
    "startup": _simple(
        "startup", lambda c: [c.config.startup], lambda c, v: c.set_options(startup=int(v[0]))
    ),
    "fota": _simple(
        "fota",
        lambda c: [c.config.fota_download, c.config.fota_update],
        lambda c, v: c.set_options(fota_download=int(v[0]), fota_update=int(v[1])),
    ),
    "hostdevice": _simple("hostdevice", _host_values, _set_host),
    "reset": _reset,
    "nettype": _simple(
        "nettype", lambda c: [c.config.nettype], lambda c, v: c.set_options(nettype=int(v[0]))
    ),
    "maxreconntime": _simple(
        "maxreconntime",
        lambda c: list(c.config.maxreconntime),
        lambda c, v: c.set_options(maxreconntime=_triple(v)),
    ),
    "apnretry": _simple(
        "apnretry",
        lambda c: list(c.config.apnretry),
        lambda c, v: c.set_options(apnretry=_triple(v)),
    ),
}


# ------------------------------------------------- AT+QLWREG / DEREG / UPDATE / STAT
def qlwreg(ctx: CommandContext, args: Args) -> None:
    client_for(ctx.module).start(ctx.now)


def qlwdereg(ctx: CommandContext, args: Args) -> None:
    client_for(ctx.module).stop(ctx.now)


def qlwupdate(ctx: CommandContext, args: Args) -> None:
    client_for(ctx.module).update(None, ctx.now)


def qlwupdate_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    client_for(ctx.module).update(args.int(0, 1, 65535), ctx.now)


def qlwupdate_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QLWUPDATE: (1-65535)"]


def qlwstat_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QLWSTAT: {int(client_for(ctx.module).stat())}"]


def qlwstat_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QLWSTAT: (0-4)"]


def _no_output(ctx: CommandContext, args: Args) -> None:
    return None


def _client_errors_answered(handler: Handler) -> Handler:
    """The AT boundary of the client core: a request its state does not allow is
    ``+CME ERROR: 3`` (operation not allowed), as on the module."""

    @functools.wraps(handler)
    def call(ctx: CommandContext, args: Args) -> Response | list[str] | None:
        try:
            return handler(ctx, args)
        except ClientStateError as exc:
            raise OperationNotAllowed(str(exc)) from None

    return call


def register(registry: CommandRegistry) -> None:
    def add(name: str, form: Form, handler: Handler) -> None:
        registry.add(name, form, _client_errors_answered(handler))

    add("+QLWCFG", Form.TEST, qlwcfg_test)
    add("+QLWCFG", Form.WRITE, qlwcfg_write)
    add("+QLWREG", Form.EXEC, qlwreg)
    add("+QLWREG", Form.TEST, _no_output)
    add("+QLWDEREG", Form.EXEC, qlwdereg)
    add("+QLWDEREG", Form.TEST, _no_output)
    add("+QLWUPDATE", Form.EXEC, qlwupdate)
    add("+QLWUPDATE", Form.WRITE, qlwupdate_write)
    add("+QLWUPDATE", Form.TEST, qlwupdate_test)
    add("+QLWSTAT", Form.READ, qlwstat_read)
    add("+QLWSTAT", Form.TEST, qlwstat_test)
