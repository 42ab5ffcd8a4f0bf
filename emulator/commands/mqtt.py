"""MQTT AT commands (Quectel "LTE Standard MQTT Application Note" and "EC200U Series MQTT
Application Note"): AT+QMTCFG, AT+QMTOPEN, AT+QMTCLOSE, AT+QMTCONN, AT+QMTDISC,
AT+QMTSUB, AT+QMTUNS, AT+QMTPUB (``> `` prompt ended by Ctrl-Z, or a fixed length),
AT+QMTPUBEX (fixed length) and AT+QMTRECV (buffered receive mode).

Commands check their parameters and the link state, answer at once (``OK`` or an error)
and leave the network work to the client table (:mod:`emulator.mqtt.model`) and its
aiomqtt adapter, whose outcome comes later as a URC. The adapter is this family's service.
"""

from __future__ import annotations

from emulator.at.errors import AtError, IncorrectParameters, OperationNotAllowed
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, DataInput, Response
from emulator.commands.context import CommandContext
from emulator.commands.ssl import tls_request
from emulator.mqtt.model import (
    CONN_STATE,
    LinkState,
    MqttClients,
    MqttConfig,
    MqttLink,
    MqttVersion,
    OpenResult,
    WillConfig,
    clients_for,
)

MAX_CID = 15
MAX_HOST = 255


class MqttStateError(AtError):
    """The link is not in a state for this command: the module answers ``ERROR``."""


def _clients(ctx: CommandContext) -> MqttClients:
    return clients_for(ctx.module)


def _index(ctx: CommandContext, args: Args, position: int = 0) -> MqttLink:
    clients = _clients(ctx)
    return clients.link(args.int(position, 0, clients.limits.clients - 1))


def _range(clients: MqttClients) -> str:
    return f"(0-{clients.limits.clients - 1})"


# ------------------------------------------------------------------------ AT+QMTCFG
CFG_NAMES = ("version", "pdpcid", "ssl", "keepalive", "session", "timeout", "will", "recv/mode")


def qmtcfg_test(ctx: CommandContext, args: Args) -> list[str]:
    r = _range(_clients(ctx))
    return [
        f'+QMTCFG: "version",{r},(3,4)',
        f'+QMTCFG: "pdpcid",{r},(1-{MAX_CID})',
        f'+QMTCFG: "ssl",{r},(0,1),(0-5)',
        f'+QMTCFG: "keepalive",{r},(0-3600)',
        f'+QMTCFG: "session",{r},(0,1)',
        f'+QMTCFG: "timeout",{r},(1-60),(0-10),(0,1)',
        f'+QMTCFG: "will",{r},(0,1),(0-2),(0,1),"will_topic","will_msg"',
        f'+QMTCFG: "recv/mode",{r},(0,1),(0,1)',
    ]


def _cfg_values(name: str, cfg: MqttConfig) -> str:
    if name == "version":
        return str(cfg.version)
    if name == "pdpcid":
        return str(cfg.pdpcid)
    if name == "ssl":
        return f"{int(cfg.ssl)},{cfg.ssl_ctx}"
    if name == "keepalive":
        return str(cfg.keepalive)
    if name == "session":
        return str(int(cfg.clean_session))
    if name == "timeout":
        return f"{cfg.pkt_timeout},{cfg.retry_times},{int(cfg.timeout_notice)}"
    if name == "will":
        w = cfg.will
        if w is None:
            return "0"
        return f'1,{w.qos},{int(w.retain)},"{w.topic}","{w.message}"'
    return f"{cfg.recv_mode},{int(cfg.recv_len)}"  # recv/mode


def qmtcfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QMTCFG="<name>",<client_idx>[,<values>]``: with the index alone it reads."""
    name = args.str(0, max_len=16, choices=CFG_NAMES, case_insensitive=True)
    if len(args) < 2:
        raise IncorrectParameters("client_idx is required")
    link = _index(ctx, args, 1)
    cfg = link.config
    if len(args) == 2:
        return [f'+QMTCFG: "{name}",{_cfg_values(name, cfg)}']
    if link.state is not LinkState.IDLE and name != "recv/mode":
        raise OperationNotAllowed("the client is in use")  # settings apply at QMTOPEN/CONN
    if name == "version":
        args.count(3)
        cfg.version = MqttVersion(args.int(2, 3, 4))
    elif name == "pdpcid":
        args.count(3)
        cfg.pdpcid = args.int(2, 1, MAX_CID)
    elif name == "ssl":
        args.count(3, 4)
        cfg.ssl = bool(args.int(2, 0, 1))
        cfg.ssl_ctx = args.int(3, 0, 5, default=cfg.ssl_ctx)
    elif name == "keepalive":
        args.count(3)
        cfg.keepalive = args.int(2, 0, 3600)
    elif name == "session":
        args.count(3)
        cfg.clean_session = bool(args.int(2, 0, 1))
    elif name == "timeout":
        args.count(3, 5)
        cfg.pkt_timeout = args.int(2, 1, 60)
        cfg.retry_times = args.int(3, 0, 10, default=cfg.retry_times)
        cfg.timeout_notice = bool(args.int(4, 0, 1, default=int(cfg.timeout_notice)))
    elif name == "will":
        args.count(3, 7)
        if args.int(2, 0, 1) == 0:
            cfg.will = None
        else:
            args.count(7)
            cfg.will = WillConfig(
                qos=args.int(3, 0, 2),
                retain=bool(args.int(4, 0, 1)),
                topic=args.str(5, max_len=_clients(ctx).limits.max_topic),
                message=args.str(6, max_len=256),
            )
            if not cfg.will.topic:
                raise IncorrectParameters("will topic is empty")
    else:  # recv/mode
        args.count(3, 4)
        cfg.recv_mode = args.int(2, 0, 1)
        cfg.recv_len = bool(args.int(3, 0, 1, default=int(cfg.recv_len)))
    return None


# ----------------------------------------------------------------------- open / close
def qmtopen_write(ctx: CommandContext, args: Args) -> None:
    args.count(3)
    clients = _clients(ctx)
    link = _index(ctx, args)
    host = args.str(1, max_len=MAX_HOST)
    port = args.int(2, 0, 65535)
    if not host:
        raise IncorrectParameters("host name is empty")
    if link.state is not LinkState.IDLE:
        clients.open_failed_now(link.index, OpenResult.OCCUPIED, ctx.now)
        return
    if not ctx.module.bring_up_context(link.config.pdpcid, ctx.now):
        clients.open_failed_now(link.index, OpenResult.PDP_FAILED, ctx.now)
        return
    tls = tls_request(ctx.module, link.config.ssl_ctx, host) if link.config.ssl else None
    clients.open(link.index, host, port, tls, ctx.now)


def qmtopen_read(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f'+QMTOPEN: {link.index},"{link.host}",{link.port}'
        for link in _clients(ctx).links
        if link.state is not LinkState.IDLE and link.state is not LinkState.OPENING
    ]


def qmtopen_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QMTOPEN: {_range(_clients(ctx))},"<host_name>",(0-65535)']


def qmtclose_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    link = _index(ctx, args)
    if link.state is LinkState.IDLE:
        raise MqttStateError("client is not open")
    _clients(ctx).close(link.index, ctx.now)


def qmtclose_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QMTCLOSE: {_range(_clients(ctx))}"]


# ---------------------------------------------------------------- connect / disconnect
def qmtconn_write(ctx: CommandContext, args: Args) -> None:
    args.count(2, 4)
    clients = _clients(ctx)
    link = _index(ctx, args)
    client_id = args.str(1, max_len=clients.limits.max_client_id)
    username = args.str(2, max_len=256) if args.present(2) else None
    password = args.str(3, max_len=256) if args.present(3) else None
    if link.state is not LinkState.OPENED:
        raise MqttStateError(f"client {link.index} is {link.state.value}, not opened")
    clients.connect(link.index, client_id, username, password, ctx.now)


def qmtconn_read(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f"+QMTCONN: {link.index},{CONN_STATE[link.state]}"
        for link in _clients(ctx).links
        if link.state in CONN_STATE
    ]


def qmtconn_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QMTCONN: {_range(_clients(ctx))},"<clientID>","<username>","<password>"']


def qmtdisc_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    link = _index(ctx, args)
    if link.state is not LinkState.CONNECTED:
        raise MqttStateError(f"client {link.index} is not connected")
    _clients(ctx).disconnect(link.index, ctx.now)


def qmtdisc_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QMTDISC: {_range(_clients(ctx))}"]


def _connected(ctx: CommandContext, args: Args) -> MqttLink:
    link = _index(ctx, args)
    if link.state is not LinkState.CONNECTED:
        raise MqttStateError(f"client {link.index} is not connected")
    return link


# ------------------------------------------------------------------- subscribe
def qmtsub_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QMTSUB=<idx>,<msgid>,"<topic1>",<qos1>[,"<topic2>",<qos2>...]``."""
    clients = _clients(ctx)
    args.count(4, 2 + 2 * clients.limits.max_sub_topics)
    if len(args) % 2:
        raise IncorrectParameters("every topic needs its QoS")
    msgid = args.int(1, 1, 65535)
    topics = tuple(
        (args.str(i, max_len=clients.limits.max_topic), args.int(i + 1, 0, 2))
        for i in range(2, len(args), 2)
    )
    if any(not t for t, _ in topics):
        raise IncorrectParameters("empty topic")
    link = _connected(ctx, args)
    clients.subscribe(link.index, msgid, topics)


def qmtsub_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QMTSUB: {_range(_clients(ctx))},(1-65535),"<topic>",(0-2)']


def qmtuns_write(ctx: CommandContext, args: Args) -> None:
    clients = _clients(ctx)
    args.count(3, 2 + clients.limits.max_sub_topics)
    msgid = args.int(1, 1, 65535)
    topics = tuple(args.str(i, max_len=clients.limits.max_topic) for i in range(2, len(args)))
    if any(not t for t in topics):
        raise IncorrectParameters("empty topic")
    link = _connected(ctx, args)
    clients.unsubscribe(link.index, msgid, topics)


def qmtuns_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+QMTUNS: {_range(_clients(ctx))},(1-65535),"<topic>"']


# --------------------------------------------------------------------- publish
def _publish_header(ctx: CommandContext, args: Args) -> tuple[MqttLink, int, int, bool, str]:
    clients = _clients(ctx)
    msgid = args.int(1, 0, 65535)
    qos = args.int(2, 0, 2)
    retain = bool(args.int(3, 0, 1))
    topic = args.str(4, max_len=clients.limits.max_topic)
    if not topic:
        raise IncorrectParameters("empty topic")
    if (qos == 0) != (msgid == 0):
        raise IncorrectParameters("msgid is 0 exactly when QoS is 0")
    return _connected(ctx, args), msgid, qos, retain, topic


def qmtpub_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QMTPUB=<idx>,<msgid>,<qos>,<retain>,"<topic>"[,<msglen>]``: ``> ``, then the
    message up to Ctrl-Z (longer than the limit: the rest is dropped, as the AN says) or
    exactly <msglen> bytes. ESC cancels; no data within the prompt timeout fails."""
    args.count(5, 6)
    clients = _clients(ctx)
    length = args.int(5, 1, clients.limits.max_payload) if args.present(5) else None
    link, msgid, qos, retain, topic = _publish_header(ctx, args)

    def on_data(data: bytes, now: float) -> Response:
        payload = data if length is not None else data[: clients.limits.max_prompt_payload]
        if clients.link(link.index).state is not LinkState.CONNECTED:
            return Response(final="ERROR")  # the link went away while the data came
        clients.publish(link.index, msgid, qos, retain, topic, payload)
        return Response()

    return Response(
        final=None,
        data_input=DataInput(
            prompt=b"\r\n> ",
            length=length,
            on_data=on_data,
            on_timeout=lambda data, now: Response(final="ERROR"),
            timeout=clients.limits.prompt_timeout,
            max_length=clients.limits.max_prompt_payload,
        ),
    )


def qmtpub_test(ctx: CommandContext, args: Args) -> list[str]:
    clients = _clients(ctx)
    return [
        f'+QMTPUB: {_range(clients)},(0-65535),(0-2),(0,1),"<topic>",'
        f"(1-{clients.limits.max_payload})"
    ]


def qmtpubex_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QMTPUBEX=<idx>,<msgid>,<qos>,<retain>,"<topic>",<msglen>`` (EC200U): always
    the fixed-length form."""
    args.count(6)
    return qmtpub_write(ctx, args)


# --------------------------------------------------------------------- receive
def qmtrecv_read(ctx: CommandContext, args: Args) -> list[str]:
    """Buffered mode: ``+QMTRECV: <idx>,<s0>,...,<s4>`` (1: that slot holds a message)."""
    return [
        f"+QMTRECV: {link.index}," + ",".join(str(int(s is not None)) for s in link.slots)
        for link in _clients(ctx).links
        if link.state is LinkState.CONNECTED
    ]


def qmtrecv_write(ctx: CommandContext, args: Args) -> list[str]:
    clients = _clients(ctx)
    args.count(1, 2)
    link = _index(ctx, args)
    slot = args.int(1, 0, clients.limits.recv_buffers - 1) if args.present(1) else None
    return clients.read_buffered(link.index, slot, ctx.now)


def qmtrecv_test(ctx: CommandContext, args: Args) -> list[str]:
    clients = _clients(ctx)
    return [f"+QMTRECV: {_range(clients)},(0-{clients.limits.recv_buffers - 1})"]


def register(registry: CommandRegistry) -> None:
    on = registry.add
    on("+QMTCFG", Form.WRITE, qmtcfg_write)
    on("+QMTCFG", Form.TEST, qmtcfg_test)
    on("+QMTOPEN", Form.WRITE, qmtopen_write)
    on("+QMTOPEN", Form.READ, qmtopen_read)
    on("+QMTOPEN", Form.TEST, qmtopen_test)
    on("+QMTCLOSE", Form.WRITE, qmtclose_write)
    on("+QMTCLOSE", Form.TEST, qmtclose_test)
    on("+QMTCONN", Form.WRITE, qmtconn_write)
    on("+QMTCONN", Form.READ, qmtconn_read)
    on("+QMTCONN", Form.TEST, qmtconn_test)
    on("+QMTDISC", Form.WRITE, qmtdisc_write)
    on("+QMTDISC", Form.TEST, qmtdisc_test)
    on("+QMTSUB", Form.WRITE, qmtsub_write)
    on("+QMTSUB", Form.TEST, qmtsub_test)
    on("+QMTUNS", Form.WRITE, qmtuns_write)
    on("+QMTUNS", Form.TEST, qmtuns_test)
    on("+QMTPUB", Form.WRITE, qmtpub_write)
    on("+QMTPUB", Form.TEST, qmtpub_test)
    on("+QMTPUBEX", Form.WRITE, qmtpubex_write)
    on("+QMTRECV", Form.READ, qmtrecv_read)
    on("+QMTRECV", Form.WRITE, qmtrecv_write)
    on("+QMTRECV", Form.TEST, qmtrecv_test)
