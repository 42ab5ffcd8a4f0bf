"""The asyncio adapter of the MQTT client table: real links to a real broker with aiomqtt.

A module's AT+QMTOPEN opens the network link alone and AT+QMTCONN sends CONNECT on it.
aiomqtt (over paho-mqtt) opens its own TCP connection as it connects, so the link of
AT+QMTOPEN is a real TCP (TLS) connection to the broker that this adapter holds and
watches (a broker that goes away before AT+QMTCONN gives +QMTSTAT: <idx>,1); at AT+QMTCONN
it is closed and aiomqtt connects to the same address with the module's settings.

Operations of one client run in order (one lock per link); received messages go to the
client table as they come. A link closed by AT+QMTCLOSE, a lost PDP context, a reboot or
the emulator's exit is torn down without DISCONNECT, as when a module loses its link: the
broker then publishes the will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError

from emulator.adapters.destinations import DestinationRefused, NameNotResolved, resolve
from emulator.adapters.tls import TlsSetupError, client_context
from emulator.module.events import ModuleEvent, PdpContextChanged, PoweredDown, RebootStarted
from emulator.module.routing import EventTypes
from emulator.mqtt.model import COMPONENT as MQTT_COMPONENT
from emulator.mqtt.model import (
    MqttClients,
    MqttCloseRequested,
    MqttConnectRequested,
    MqttDisconnectRequested,
    MqttOpenRequested,
    MqttPublishRequested,
    MqttRequest,
    MqttSubscribeRequested,
    MqttUnsubscribeRequested,
    MqttVersion,
    OpenResult,
    StatCode,
    clients_for,
)

if TYPE_CHECKING:
    from emulator.adapters.host import ModuleHost

log = logging.getLogger(__name__)

# MQTT 5 reason codes paho reports for a refused 3.1/3.1.1 CONNECT -> 3.1.1 return codes
# (MQTT 3.1.1 §3.2.2.3: 1 protocol version, 2 identifier, 3 server, 4 user/password,
# 5 not authorized).
CONNACK_CODES = {132: 1, 133: 2, 136: 3, 134: 4, 135: 5, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
KEEPALIVE_TIMEOUT_CODES = (paho.MQTT_ERR_KEEPALIVE, 141)  # paho v1 code, MQTT 5 0x8D


@dataclass
class _Link:
    session: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    address: tuple[str, int] | None = None
    tls: ssl.SSLContext | None = None
    server_name: str | None = None
    probe: asyncio.StreamWriter | None = None
    client: aiomqtt.Client | None = None
    reader: asyncio.Task[None] | None = None


def _code(value: Any) -> int:
    return int(getattr(value, "value", value))


class MqttAdapter:
    def __init__(self, host: ModuleHost, clients: MqttClients | None = None) -> None:
        self.host = host
        self._clients = clients
        self._links: dict[int, _Link] = {}

    @property
    def clients(self) -> MqttClients:
        """The module's MQTT client table, made on first use: most modules of a fleet never
        open MQTT, and six client slots each cost some 7 KiB for 10,000 modules."""
        if self._clients is None:
            self._clients = clients_for(self.host.module)
        return self._clients

    def _table_exists(self) -> bool:
        return self._clients is not None or MQTT_COMPONENT in self.host.module.components

    # ------------------------------------------------------------ service API
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        """The emulator exits: every link is closed."""
        for index in list(self._links):
            await self._teardown(index)

    #: Every class ``on_event`` looks at: the host routes only these here (host.py).
    handled_events: ClassVar[EventTypes] = (
        PdpContextChanged,
        RebootStarted,
        PoweredDown,
        MqttCloseRequested,
        MqttOpenRequested,
        MqttConnectRequested,
        MqttSubscribeRequested,
        MqttUnsubscribeRequested,
        MqttPublishRequested,
        MqttDisconnectRequested,
    )

    def on_event(self, event: ModuleEvent) -> None:
        now = self.host.now()
        if isinstance(event, PdpContextChanged) and not event.active:
            if self._table_exists():  # no table yet: no link to lose
                self.clients.network_lost(event.cid, now)
        elif isinstance(event, RebootStarted | PoweredDown):  # every link goes with it
            if self._table_exists():  # no table yet: it will start on defaults anyway
                self.clients.reset()
        elif isinstance(event, MqttCloseRequested):
            link = self._links.get(event.index)
            if link is not None and link.session == event.session:
                self._spawn_detached(self._teardown(event.index))
        elif isinstance(event, MqttOpenRequested):
            self._links[event.index] = _Link(session=event.session)
            self._run(event, self._open(event))
        elif isinstance(event, MqttConnectRequested):
            self._run(event, self._connect(event))
        elif isinstance(event, MqttSubscribeRequested):
            self._run(event, self._subscribe(event))
        elif isinstance(event, MqttUnsubscribeRequested):
            self._run(event, self._unsubscribe(event))
        elif isinstance(event, MqttPublishRequested):
            self._run(event, self._publish(event))
        elif isinstance(event, MqttDisconnectRequested):
            self._run(event, self._disconnect(event))

    # ---------------------------------------------------------------- helpers
    def _apply(self, fn: Callable[[float], None]) -> None:
        self.host.apply(fn)

    def _link(self, request: MqttRequest) -> _Link | None:
        link = self._links.get(request.index)
        return link if link is not None and link.session == request.session else None

    def _run(self, request: MqttRequest, work: Awaitable[None]) -> None:
        """Run ``work`` for the link after the link's earlier operations."""
        link = self._link(request)
        if link is None:
            if asyncio.iscoroutine(work):
                work.close()
            return

        async def ordered() -> None:
            async with link.lock:
                await work

        task = asyncio.get_running_loop().create_task(ordered())
        link.tasks.add(task)
        task.add_done_callback(self._task_done(link))

    def _task_done(self, link: _Link) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            link.tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("MQTT operation failed", exc_info=task.exception())

        return done

    def _spawn_detached(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        asyncio.get_running_loop().create_task(run())

    def _lost(self, index: int, session: int, code: StatCode) -> None:
        self._apply(lambda now: self.clients.link_lost(index, session, code, now))
        link = self._links.get(index)
        if link is not None and link.session == session:
            self._spawn_detached(self._teardown(index, keep_current_task=True))

    # ------------------------------------------------------------------ open
    async def _open(self, event: MqttOpenRequested) -> None:
        link = self._link(event)
        if link is None:
            return
        result = await self._open_link(event, link)
        self._apply(lambda now: self.clients.open_result(event.index, event.session, result, now))

    async def _open_link(self, event: MqttOpenRequested, link: _Link) -> OpenResult:
        try:
            link.address = await resolve(self.host.module, event.host, event.port)
        except NameNotResolved:
            return OpenResult.DNS_FAILED
        except DestinationRefused as exc:
            log.warning("MQTT client %d: %s", event.index, exc)
            return OpenResult(self.clients.limits.open_refused_result)
        if event.tls is not None:
            try:
                link.tls = client_context(event.tls)
            except TlsSetupError as exc:
                log.warning("MQTT client %d: %s", event.index, exc)
                return OpenResult.FAILED
            link.server_name = event.host if event.tls.sni else None
        address, port = link.address
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    address,
                    port,
                    ssl=link.tls,
                    server_hostname=(link.server_name or "") if link.tls is not None else None,
                ),
                event.timeout,
            )
        except ssl.SSLError as exc:
            log.warning("MQTT client %d: TLS handshake failed: %s", event.index, exc)
            return OpenResult.FAILED
        except (OSError, TimeoutError) as exc:
            log.info("MQTT client %d: connect to %s:%d failed: %s", event.index, address, port, exc)
            return OpenResult(self.clients.limits.open_refused_result)
        link.probe = writer
        watch = asyncio.get_running_loop().create_task(self._watch_probe(event, reader))
        link.reader = watch
        return OpenResult.OK

    async def _watch_probe(self, event: MqttOpenRequested, reader: asyncio.StreamReader) -> None:
        """The opened link before CONNECT: the broker closing it is +QMTSTAT <idx>,1."""
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass  # a broker sends nothing before CONNECT; anything is ignored
        self._lost(event.index, event.session, StatCode.CLOSED_BY_PEER)

    async def _close_probe(self, link: _Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
            link.reader = None
        if link.probe is not None:
            link.probe.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(link.probe.wait_closed(), 2.0)
            link.probe = None

    # ---------------------------------------------------------------- connect
    async def _connect(self, event: MqttConnectRequested) -> None:
        link = self._link(event)
        if link is None or link.address is None:
            return
        await self._close_probe(link)
        address, port = link.address
        will = (
            aiomqtt.Will(
                topic=event.will.topic,
                payload=event.will.message,
                qos=event.will.qos,
                retain=event.will.retain,
            )
            if event.will is not None
            else None
        )
        result, ret_code = 0, 0
        try:
            client = aiomqtt.Client(
                hostname=address,
                port=port,
                identifier=event.client_id,
                username=event.username,
                password=event.password,
                protocol=(
                    aiomqtt.ProtocolVersion.V31
                    if event.version is MqttVersion.V3_1
                    else aiomqtt.ProtocolVersion.V311
                ),
                will=will,
                clean_session=event.clean_session,
                keepalive=event.keepalive,
                timeout=event.timeout,
                tls_context=link.tls,
            )
            await asyncio.wait_for(client.__aenter__(), event.timeout)
            link.client = client
        except ValueError:
            ret_code = 2  # paho refuses an empty identifier with a persistent session
        except MqttConnectError as exc:
            ret_code = CONNACK_CODES.get(_code(exc.rc), 3)
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            log.info("MQTT client %d: CONNECT failed: %s", event.index, exc)
            result, ret_code = 2, -1
        if result == 0 and ret_code == 0:
            link.reader = asyncio.get_running_loop().create_task(self._read_messages(event, client))
        code = ret_code if ret_code >= 0 else None
        self._apply(
            lambda now: self.clients.connect_result(event.index, event.session, result, code, now)
        )

    async def _read_messages(self, event: MqttConnectRequested, client: aiomqtt.Client) -> None:
        try:
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                topic, mid = message.topic.value, message.mid
                self._apply(self._deliver(event, mid, topic, data))
        except aiomqtt.MqttError as exc:
            cause = exc.__cause__
            code = StatCode.CLOSED_BY_PEER
            if isinstance(cause, aiomqtt.MqttCodeError) and _code(cause.rc) in (
                KEEPALIVE_TIMEOUT_CODES
            ):
                code = StatCode.PING_FAILED
            self._lost(event.index, event.session, code)

    def _deliver(
        self, event: MqttConnectRequested, mid: int, topic: str, data: bytes
    ) -> Callable[[float], None]:
        def deliver(now: float) -> None:
            self.clients.message(event.index, event.session, mid, topic, data, now)

        return deliver

    # -------------------------------------------------------------- operations
    async def _subscribe(self, event: MqttSubscribeRequested) -> None:
        link = self._link(event)
        if link is None or link.client is None:
            return
        result, granted = 0, tuple[int, ...]()
        try:
            codes = await link.client.subscribe(list(event.topics), timeout=event.timeout)
            granted = tuple(_code(c) for c in codes)
        except (aiomqtt.MqttError, TimeoutError):
            result = 2
        self._apply(
            lambda now: self.clients.subscribe_result(
                event.index, event.session, event.msgid, result, granted, now
            )
        )

    async def _unsubscribe(self, event: MqttUnsubscribeRequested) -> None:
        link = self._link(event)
        if link is None or link.client is None:
            return
        result = 0
        try:
            await link.client.unsubscribe(list(event.topics), timeout=event.timeout)
        except (aiomqtt.MqttError, TimeoutError):
            result = 2
        self._apply(
            lambda now: self.clients.unsubscribe_result(
                event.index, event.session, event.msgid, result, now
            )
        )

    async def _publish(self, event: MqttPublishRequested) -> None:
        link = self._link(event)
        if link is None or link.client is None:
            return
        result = 0
        try:
            await link.client.publish(
                event.topic, event.payload, event.qos, event.retain, timeout=event.timeout
            )
        except (aiomqtt.MqttError, TimeoutError):
            result = 2
        self._apply(
            lambda now: self.clients.publish_result(
                event.index, event.session, event.msgid, result, now
            )
        )

    async def _disconnect(self, event: MqttDisconnectRequested) -> None:
        link = self._link(event)
        if link is None or link.client is None:
            return
        if link.reader is not None:
            link.reader.cancel()
            link.reader = None
        client, link.client = link.client, None
        result = 0
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), 10.0)
        except (aiomqtt.MqttError, TimeoutError, OSError):
            result = -1
        self._links.pop(event.index, None)
        self._apply(
            lambda now: self.clients.disconnect_result(event.index, event.session, result, now)
        )

    # --------------------------------------------------------------- teardown
    async def _teardown(self, index: int, *, keep_current_task: bool = False) -> None:
        """Close the link without DISCONNECT (the module lost it or was told to drop it)."""
        link = self._links.pop(index, None)
        if link is None:
            return
        current = asyncio.current_task()
        for task in list(link.tasks):
            if task is not current:
                task.cancel()
        await self._close_probe(link)
        client, link.client = link.client, None
        if client is not None:
            await _drop_client(client)


async def _drop_client(client: aiomqtt.Client) -> None:
    """Close an aiomqtt client's socket without sending DISCONNECT, and let it clean up."""
    paho_client = client._client  # aiomqtt keeps the paho client here
    sock = paho_client.socket()
    if isinstance(sock, socket.socket | ssl.SSLSocket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # the broker sees the link go, as with a lost module
    disconnected = client._disconnected
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, aiomqtt.MqttError):
        await asyncio.wait_for(asyncio.shield(disconnected), 2.0)
    if disconnected.done() and not disconnected.cancelled():
        disconnected.exception()  # retrieved: an unexpected disconnect is what we wanted
    with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
        await asyncio.wait_for(client.__aexit__(None, None, None), 2.0)


def create_service(host: ModuleHost) -> MqttAdapter:
    """The aiomqtt adapter of the module's MQTT client table (made when first used)."""
    return MqttAdapter(host)
