"""The control plane's asyncio adapter: one aiomqtt connection to the broker for a whole
serve process.

It connects with the plane's last will (the instance status, retained, saying offline),
subscribes to the request topics, hands what arrives to :class:`ControlPlane`, publishes
what the plane gives and runs its timers. A broker that is down or goes away never stops
the modules: the plane drops and counts events meanwhile, and the adapter reconnects with
exponential back-off (0.5 s doubling to 30 s, with jitter so that many processes do not
come back in step), logging the outage once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiomqtt

from emulator.controlplane.plane import ControlPlane

log = logging.getLogger(__name__)

INBOX_LIMIT: Final = 2_000  # requests received and not yet handled
BACKOFF_FIRST: Final = 0.5
BACKOFF_MAX: Final = 30.0
KEEPALIVE: Final = 30  # seconds (MQTT 3.1.1 §3.1.2.10): a dead broker is noticed in ~45 s
DRAIN_TIMEOUT: Final = 5.0  # seconds to publish the goodbye statuses at stop
STOP_TIMEOUT: Final = 5.0  # seconds for the adapter's tasks to end after cancellation
FIRST_CONNECT_WAIT: Final = 2.0  # seconds serve waits for the broker before booting modules
DEFAULT_PORT: Final = 1883
# Small request/response messages: without TCP_NODELAY, Nagle's algorithm and delayed ACKs
# add ~40 ms to a round trip (paho leaves the option unset).
NO_DELAY: Final = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"


def parse_broker_url(text: str) -> BrokerAddress:
    """``mqtt://HOST[:PORT]``; raises ValueError saying what is wrong."""
    parts = urlsplit(text)
    if parts.scheme != "mqtt":
        raise ValueError(f"{text!r} is not an mqtt://HOST:PORT URL (only plain MQTT is served)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"{text!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{text!r}: give only mqtt://HOST:PORT")
    return BrokerAddress(parts.hostname, port or DEFAULT_PORT)


def _inbox_type(limit: int, on_drop: Any) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's incoming queue, bounded by us: a flood drops what does not fit, counted,
    instead of aiomqtt's warning per message."""

    class Inbox(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if self.qsize() >= limit:
                on_drop(1)
                return
            super().put_nowait(item)

    return Inbox


class MqttAdapter:
    """Runs one ControlPlane against one broker until :meth:`stop`."""

    def __init__(
        self,
        plane: ControlPlane,
        broker: BrokerAddress,
        *,
        client_id: str,
        inbox_limit: int = INBOX_LIMIT,
        clock: Any = time.monotonic,
    ) -> None:
        self.plane = plane
        self.broker = broker
        self.client_id = client_id
        self.inbox_limit = inbox_limit
        self.clock = clock
        self.connections = 0  # successful connections so far
        self.connected = asyncio.Event()
        self._output = asyncio.Event()
        self._work = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aiomqtt.Client | None = None
        plane.wake = self._wake

    def _wake(self) -> None:
        self._output.set()
        self._work.set()

    async def start(self) -> None:
        self.plane.attach()
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name="mqtt-connection"),
            asyncio.create_task(self._service_loop(), name="mqtt-service"),
        ]

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected; False if the broker did not answer within ``timeout``."""
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Publish the offline statuses (a few seconds at most), disconnect cleanly."""
        self._stopping = True
        self.plane.close()
        if self.plane.connected:
            deadline = self.clock() + DRAIN_TIMEOUT
            while self.plane.pending() and self.plane.connected and self.clock() < deadline:
                await asyncio.sleep(0.01)
        self._wake()
        for task in self._tasks:
            task.cancel()
        done, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
        for task in pending:  # never keep serve from exiting
            log.warning("MQTT task %s did not stop within %g s", task.get_name(), STOP_TIMEOUT)
        for task in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()

    # --------------------------------------------------------------- the loops
    async def _service_loop(self) -> None:
        # The stop flag, not only cancellation, ends it: Python 3.11's wait_for can swallow a
        # cancel that arrives as the event it waits for is set (stop() wakes it, then cancels).
        while not self._stopping:
            self._work.clear()  # before servicing: a wake-up from inside it is kept
            self.plane.service(self.clock())
            when = self.plane.get_timer()
            timeout = None if when is None else max(0.0, when - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), timeout)

    async def _connection_loop(self) -> None:
        backoff = BACKOFF_FIRST
        outage_logged = False
        while not self._stopping:
            will = self.plane.will()
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.client_id,
                    will=aiomqtt.Will(will.topic, will.payload, qos=1, retain=True),
                    keepalive=KEEPALIVE,
                    timeout=10,
                    queue_type=_inbox_type(self.inbox_limit, self.plane.inbox_overflow),
                    socket_options=NO_DELAY,
                ) as client:
                    self._client = client
                    filters = self.plane.topics.request_filters()
                    await client.subscribe([(topic, 1) for topic in filters])
                    self.connections += 1
                    backoff = BACKOFF_FIRST
                    if outage_logged:
                        log.warning("MQTT broker %s reached again", self.broker)
                    outage_logged = False
                    self.plane.broker_connected()
                    self.connected.set()
                    await self._exchange(client)
            except aiomqtt.MqttError as exc:
                if not outage_logged:
                    log.warning(
                        "MQTT broker %s unreachable or gone (%s); the modules go on, events are "
                        "dropped and counted, reconnecting with back-off",
                        self.broker,
                        exc,
                    )
                    outage_logged = True
            finally:
                self._client = None
                self.connected.clear()
                if self.plane.connected:
                    self.plane.broker_lost()
            if self._stopping:
                return
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _exchange(self, client: aiomqtt.Client) -> None:
        tasks = [
            asyncio.create_task(self._receive(client), name="mqtt-receive"),
            asyncio.create_task(self._send(client), name="mqtt-send"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            error = task.exception()
            if error is not None:
                if isinstance(error, aiomqtt.MqttError):
                    raise error
                raise aiomqtt.MqttError(f"{type(error).__name__}: {error}") from error
        raise aiomqtt.MqttError("the connection ended")

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            self.plane.receive(str(message.topic), data, self.clock())
            self.plane.service(self.clock())

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            message = self.plane.next_message()
            if message is None:
                self._output.clear()
                await self._output.wait()
                continue
            await client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )
