"""The module's MQTT client table, sans-I/O (Quectel "MQTT Application Note", LTE Standard
and EC200U series: AT+QMTCFG/QMTOPEN/QMTCONN/QMTSUB/QMTUNS/QMTPUB/QMTRECV/QMTDISC/QMTCLOSE).

Each client index (0-5) has its configuration, its link state and its receive buffers. AT
commands change the table and post request events (:class:`MqttRequest` subclasses); the
asyncio adapter (:mod:`emulator.adapters.mqtt`) does the network work with aiomqtt and
reports back through the ``*_result`` methods, which raise the URCs a module gives
(``+QMTOPEN``, ``+QMTCONN``, ``+QMTSUB``, ``+QMTUNS``, ``+QMTPUB``, ``+QMTDISC``,
``+QMTCLOSE``, ``+QMTRECV``, ``+QMTSTAT``). Every request carries the link's ``session``
number; a result for an older session (the link was closed meanwhile) is ignored.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.module.events import ModuleEvent
from emulator.module.profile import ProfileError
from emulator.module.tls import TlsRequest

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "mqtt"
MAX_PENDING_MESSAGES = 256  # buffered-mode messages waiting for a free slot


# ------------------------------------------------------------------------- profile data
@dataclass(frozen=True, kw_only=True)
class MqttLimits:
    """The ``"mqtt"`` section of a module profile: what the firmware build allows and the
    codes it gives where Quectel's notes leave room (kept as data, not code)."""

    clients: int = 6  # client_idx 0..clients-1
    recv_buffers: int = 5  # AT+QMTRECV? reports this many slots per client
    max_topic: int = 256
    max_client_id: int = 256
    max_payload: int = 4096  # fixed-length AT+QMTPUB / AT+QMTPUBEX
    max_prompt_payload: int = 1460  # Ctrl-Z form: bytes past this are dropped (MQTT AN)
    prompt_timeout: float = 60.0  # "> " with no data for this long ends the input
    max_sub_topics: int = 5
    open_timeout: float = 75.0
    stat_on_pdp_loss: int = 1  # +QMTSTAT code when the PDP context or coverage goes away
    open_refused_result: int = 5  # +QMTOPEN result when the broker refuses the TCP connection
    ping_urc: bool = False  # some builds print +QMTPING: <idx>,1 before +QMTSTAT ...,2

    @classmethod
    def from_profile(cls, sections: dict[str, Any]) -> MqttLimits:
        raw = sections.get("mqtt", {})
        if not isinstance(raw, dict):
            raise ProfileError('profile section "mqtt" must be an object')
        values: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            key = {"prompt_timeout": "prompt_timeout_s", "open_timeout": "open_timeout_s"}.get(
                name, name
            )
            if key not in raw:
                continue
            value = raw[key]
            kind = type(default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ProfileError(f'profile "mqtt": {key} must be {kind.__name__}')
            values[name] = value
        return cls(**values)


# --------------------------------------------------------------------------- state
class LinkState(enum.Enum):
    IDLE = "idle"
    OPENING = "opening"  # AT+QMTOPEN sent, waiting for the TCP (TLS) link
    OPENED = "opened"  # link up, no MQTT session (AT+QMTCONN? state 1, "initializing")
    CONNECTING = "connecting"  # CONNECT sent (state 2)
    CONNECTED = "connected"  # CONNACK accepted (state 3)
    DISCONNECTING = "disconnecting"  # DISCONNECT sent (state 4)
    CLOSING = "closing"


CONN_STATE = {
    LinkState.OPENED: 1,
    LinkState.CONNECTING: 2,
    LinkState.CONNECTED: 3,
    LinkState.DISCONNECTING: 4,
}


class StatCode(enum.IntEnum):
    """+QMTSTAT <err_code> (Quectel MQTT Application Note, "Error codes of +QMTSTAT")."""

    CLOSED_BY_PEER = 1  # connection closed or reset by the peer
    PING_FAILED = 2  # PINGREQ timed out or failed
    CONNECT_FAILED = 3  # CONNECT timed out or failed
    CONNACK_FAILED = 4  # CONNACK not received or failed
    SERVER_CLOSED_AFTER_DISCONNECT = 5
    SEND_FAILURES = 6  # the client closed the link after repeated send failures
    LINK_DEAD = 7  # the link is not alive or the server is unavailable


class OpenResult(enum.IntEnum):
    """+QMTOPEN <result>."""

    FAILED = -1
    OK = 0
    WRONG_PARAMETER = 1
    OCCUPIED = 2
    PDP_FAILED = 3
    DNS_FAILED = 4
    NETWORK_ERROR = 5


@dataclass(frozen=True, kw_only=True)
class WillConfig:
    qos: int
    retain: bool
    topic: str
    message: str


class MqttVersion(enum.IntEnum):
    """AT+QMTCFG "version": the protocol level the module speaks (MQTT 3.1.1 §3.1.2.2)."""

    V3_1 = 3
    V3_1_1 = 4


@dataclass
class MqttConfig:
    """AT+QMTCFG settings of one client index (defaults from the MQTT AN)."""

    version: MqttVersion = MqttVersion.V3_1_1
    pdpcid: int = 1
    ssl: bool = False
    ssl_ctx: int = 0
    keepalive: int = 120
    clean_session: bool = True
    pkt_timeout: int = 5
    retry_times: int = 3
    timeout_notice: bool = False
    will: WillConfig | None = None
    recv_mode: int = 0  # 0: message in the URC, 1: kept in buffers for AT+QMTRECV
    recv_len: bool = False  # +QMTRECV carries <payload_len>

    @property
    def packet_deadline(self) -> float:
        return float(self.pkt_timeout * (self.retry_times + 1))


@dataclass(frozen=True, kw_only=True)
class ReceivedMessage:
    msgid: int
    topic: str
    payload: bytes


@dataclass
class MqttLink:
    index: int
    config: MqttConfig = field(default_factory=MqttConfig)
    state: LinkState = LinkState.IDLE
    session: int = 0
    host: str = ""
    port: int = 0
    client_id: str = ""
    slots: list[ReceivedMessage | None] = field(default_factory=list)
    waiting: deque[ReceivedMessage] = field(default_factory=deque)


# --------------------------------------------------------------------------- events
@dataclass(frozen=True, kw_only=True)
class MqttRequest(ModuleEvent):
    index: int
    session: int


@dataclass(frozen=True, kw_only=True)
class MqttOpenRequested(MqttRequest):
    host: str
    port: int
    timeout: float
    tls: TlsRequest | None


@dataclass(frozen=True, kw_only=True)
class MqttConnectRequested(MqttRequest):
    client_id: str
    username: str | None
    password: str | None
    version: MqttVersion
    keepalive: int
    clean_session: bool
    will: WillConfig | None
    timeout: float


@dataclass(frozen=True, kw_only=True)
class MqttSubscribeRequested(MqttRequest):
    msgid: int
    topics: tuple[tuple[str, int], ...]
    timeout: float


@dataclass(frozen=True, kw_only=True)
class MqttUnsubscribeRequested(MqttRequest):
    msgid: int
    topics: tuple[str, ...]
    timeout: float


@dataclass(frozen=True, kw_only=True)
class MqttPublishRequested(MqttRequest):
    msgid: int
    qos: int
    retain: bool
    topic: str
    payload: bytes
    timeout: float


@dataclass(frozen=True, kw_only=True)
class MqttDisconnectRequested(MqttRequest):
    pass


@dataclass(frozen=True, kw_only=True)
class MqttCloseRequested(MqttRequest):
    """Tear the link down (AT+QMTCLOSE, or the network took it away: ``notify`` False)."""

    notify: bool = True


# ---------------------------------------------------------------------------- model
def quote_payload(payload: bytes) -> str:
    """A payload inside a URC: its bytes one for one (the engine writes URCs as Latin-1)."""
    return payload.decode("latin-1")


class MqttClients:
    """All MQTT client indexes of one module."""

    def __init__(self, module: VirtualModule, limits: MqttLimits) -> None:
        self.module = module
        self.limits = limits
        self.links = [
            MqttLink(index=i, slots=[None] * limits.recv_buffers) for i in range(limits.clients)
        ]

    # ---------------------------------------------------------------- helpers
    def link(self, index: int) -> MqttLink:
        return self.links[index]

    def _urc(self, text: str, now: float) -> None:
        self.module.raise_urc(text, now)

    def _current(self, index: int, session: int) -> MqttLink | None:
        if not 0 <= index < len(self.links):
            return None
        link = self.links[index]
        return link if link.session == session and link.state is not LinkState.IDLE else None

    def _drop(self, link: MqttLink) -> None:
        link.state = LinkState.IDLE
        link.session += 1
        link.host, link.port, link.client_id = "", 0, ""
        link.slots = [None] * self.limits.recv_buffers
        link.waiting.clear()

    # ------------------------------------------------------------- commands
    def open(self, index: int, host: str, port: int, tls: TlsRequest | None, now: float) -> None:
        link = self.links[index]
        link.session += 1
        link.state = LinkState.OPENING
        link.host, link.port = host, port
        self.module.post_event(
            MqttOpenRequested(
                index=index,
                session=link.session,
                host=host,
                port=port,
                timeout=self.limits.open_timeout,
                tls=tls,
            )
        )

    def open_failed_now(self, index: int, result: OpenResult, now: float) -> None:
        """QMTOPEN answered OK, then failed before any network work (PDP, occupied)."""
        self._urc(f"+QMTOPEN: {index},{int(result)}", now)

    def close(self, index: int, now: float) -> None:
        link = self.links[index]
        session = link.session
        self._drop(link)
        self.module.post_event(MqttCloseRequested(index=index, session=session))
        self._urc(f"+QMTCLOSE: {index},0", now)

    def connect(
        self, index: int, client_id: str, username: str | None, password: str | None, now: float
    ) -> None:
        link = self.links[index]
        cfg = link.config
        link.state = LinkState.CONNECTING
        link.client_id = client_id
        self.module.post_event(
            MqttConnectRequested(
                index=index,
                session=link.session,
                client_id=client_id,
                username=username,
                password=password,
                version=cfg.version,
                keepalive=cfg.keepalive,
                clean_session=cfg.clean_session,
                will=cfg.will,
                timeout=cfg.packet_deadline,
            )
        )

    def disconnect(self, index: int, now: float) -> None:
        link = self.links[index]
        link.state = LinkState.DISCONNECTING
        self.module.post_event(MqttDisconnectRequested(index=index, session=link.session))

    def subscribe(self, index: int, msgid: int, topics: tuple[tuple[str, int], ...]) -> None:
        link = self.links[index]
        self.module.post_event(
            MqttSubscribeRequested(
                index=index,
                session=link.session,
                msgid=msgid,
                topics=topics,
                timeout=link.config.packet_deadline,
            )
        )

    def unsubscribe(self, index: int, msgid: int, topics: tuple[str, ...]) -> None:
        link = self.links[index]
        self.module.post_event(
            MqttUnsubscribeRequested(
                index=index,
                session=link.session,
                msgid=msgid,
                topics=topics,
                timeout=link.config.packet_deadline,
            )
        )

    def publish(
        self, index: int, msgid: int, qos: int, retain: bool, topic: str, payload: bytes
    ) -> None:
        link = self.links[index]
        self.module.post_event(
            MqttPublishRequested(
                index=index,
                session=link.session,
                msgid=msgid,
                qos=qos,
                retain=retain,
                topic=topic,
                payload=payload,
                timeout=link.config.packet_deadline,
            )
        )

    # -------------------------------------------------------------- results
    def open_result(self, index: int, session: int, result: OpenResult, now: float) -> None:
        link = self._current(index, session)
        if link is None or link.state is not LinkState.OPENING:
            return
        if result is OpenResult.OK:
            link.state = LinkState.OPENED
        else:
            self._drop(link)
        self._urc(f"+QMTOPEN: {index},{int(result)}", now)

    def connect_result(
        self, index: int, session: int, result: int, ret_code: int | None, now: float
    ) -> None:
        """``result`` 0 sent and acknowledged, 1 retransmitted, 2 failed; ``ret_code`` is the
        CONNACK return code (MQTT 3.1.1 §3.2.2.3: 0 accepted .. 5 not authorized)."""
        link = self._current(index, session)
        if link is None or link.state is not LinkState.CONNECTING:
            return
        if result == 0 and ret_code == 0:
            link.state = LinkState.CONNECTED
        else:
            link.state = LinkState.OPENED  # the network link stays; QMTCONN may be retried
        suffix = f",{ret_code}" if ret_code is not None else ""
        self._urc(f"+QMTCONN: {index},{result}{suffix}", now)

    def subscribe_result(
        self,
        index: int,
        session: int,
        msgid: int,
        result: int,
        granted: tuple[int, ...],
        now: float,
    ) -> None:
        if self._current(index, session) is None:
            return
        values = "".join(f",{q}" for q in granted) if result == 0 else ""
        self._urc(f"+QMTSUB: {index},{msgid},{result}{values}", now)

    def unsubscribe_result(
        self, index: int, session: int, msgid: int, result: int, now: float
    ) -> None:
        if self._current(index, session) is None:
            return
        self._urc(f"+QMTUNS: {index},{msgid},{result}", now)

    def publish_result(self, index: int, session: int, msgid: int, result: int, now: float) -> None:
        if self._current(index, session) is None:
            return
        self._urc(f"+QMTPUB: {index},{msgid},{result}", now)

    def disconnect_result(self, index: int, session: int, result: int, now: float) -> None:
        link = self._current(index, session)
        if link is None:
            return
        self._drop(link)  # after DISCONNECT the module closes the network link as well
        self._urc(f"+QMTDISC: {index},{result}", now)

    def link_lost(self, index: int, session: int, code: StatCode, now: float) -> None:
        """The broker closed the link, a ping went unanswered, ... : +QMTSTAT."""
        link = self._current(index, session)
        if link is None:
            return
        self._drop(link)
        if code is StatCode.PING_FAILED and self.limits.ping_urc:
            self._urc(f"+QMTPING: {index},1", now)
        self._urc(f"+QMTSTAT: {index},{int(code)}", now)

    def message(
        self, index: int, session: int, msgid: int, topic: str, payload: bytes, now: float
    ) -> None:
        link = self._current(index, session)
        if link is None or link.state is not LinkState.CONNECTED:
            return
        received = ReceivedMessage(msgid=msgid, topic=topic, payload=payload)
        if link.config.recv_mode == 0:
            self._urc(self.render_message(link, received), now)
            return
        if len(link.waiting) >= MAX_PENDING_MESSAGES:
            link.waiting.popleft()  # bounded: the oldest unread message is lost
        link.waiting.append(received)
        self._fill_slots(link, now)

    def _fill_slots(self, link: MqttLink, now: float) -> None:
        for slot, held in enumerate(link.slots):
            if held is None and link.waiting:
                link.slots[slot] = link.waiting.popleft()
                self._urc(f"+QMTRECV: {link.index},{slot}", now)

    def render_message(self, link: MqttLink, m: ReceivedMessage) -> str:
        length = f",{len(m.payload)}" if link.config.recv_len else ""
        return f'+QMTRECV: {link.index},{m.msgid},"{m.topic}"{length},"{quote_payload(m.payload)}"'

    def read_buffered(self, index: int, slot: int | None, now: float) -> list[str]:
        link = self.links[index]
        wanted = range(len(link.slots)) if slot is None else [slot]
        lines: list[str] = []
        for s in wanted:
            held = link.slots[s]
            if held is not None:
                lines.append(self.render_message(link, held))
                link.slots[s] = None
        self._fill_slots(link, now)
        return lines

    # --------------------------------------------------------------- faults
    def network_lost(self, cid: int | None, now: float) -> None:
        """The PDP context (``None``: every context) went away: links on it close with
        +QMTSTAT (the code is profile data: Quectel's notes do not say which one)."""
        for link in self.links:
            if link.state is LinkState.IDLE or (cid is not None and link.config.pdpcid != cid):
                continue
            session = link.session
            self._drop(link)
            self.module.post_event(
                MqttCloseRequested(index=link.index, session=session, notify=False)
            )
            self._urc(f"+QMTSTAT: {link.index},{self.limits.stat_on_pdp_loss}", now)

    def reset(self) -> None:
        """Reboot: every link is closed and AT+QMTCFG settings are lost."""
        for link in self.links:
            if link.state is not LinkState.IDLE:
                self.module.post_event(
                    MqttCloseRequested(index=link.index, session=link.session, notify=False)
                )
            self._drop(link)
            link.config = MqttConfig()


def clients_for(module: VirtualModule) -> MqttClients:
    return module.component(
        COMPONENT, lambda: MqttClients(module, MqttLimits.from_profile(module.profile.sections))
    )
