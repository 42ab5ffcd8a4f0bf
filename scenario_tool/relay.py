"""A UDP relay on loopback that can drop and delay datagrams between module and server.

The module's LwM2M Security URI points at the relay, which forwards to the real server.
Scenario faults change :class:`FaultPolicy` (sans-I/O: ``decide(direction)`` gives a delay or
"drop"); :class:`UdpRelay` only moves datagrams. Each client address gets its own upstream
socket, so the server sees one peer per client and its answers find their way back, whether
the payload is CoAP or DTLS (the relay never looks inside to forward).

For the transcript, each datagram is summarised (CoAP header and URI when it is plain CoAP,
RFC 7252 §3; the record type when it is DTLS, RFC 6347 §4.1) and reported with its fate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, cast

log = logging.getLogger(__name__)

UPLINK: Final = "uplink"  # module -> server
DOWNLINK: Final = "downlink"  # server -> module
MAX_CLIENTS: Final = 64  # upstream sockets the relay keeps; more clients are refused
MAX_DELAYED: Final = 4096  # datagrams in flight on timers; beyond that they are dropped


@dataclass
class DirectionStats:
    forwarded: int = 0
    dropped: int = 0
    delayed: int = 0


@dataclass
class FaultPolicy:
    """What happens to each datagram. Share and delay apply per direction; a seed makes the
    drops repeat exactly from run to run."""

    drop_share: dict[str, float] = field(default_factory=lambda: {UPLINK: 0.0, DOWNLINK: 0.0})
    delay: dict[str, float] = field(default_factory=lambda: {UPLINK: 0.0, DOWNLINK: 0.0})
    rng: random.Random = field(default_factory=random.Random)
    stats: dict[str, DirectionStats] = field(
        default_factory=lambda: {UPLINK: DirectionStats(), DOWNLINK: DirectionStats()}
    )

    @staticmethod
    def directions(which: str) -> tuple[str, ...]:
        if which == "both":
            return (UPLINK, DOWNLINK)
        if which in (UPLINK, DOWNLINK):
            return (which,)
        raise ValueError(f"direction must be both, uplink or downlink, not {which!r}")

    def set_drop(self, share: float, direction: str = "both", seed: int | None = None) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"drop share {share} is not between 0 and 1")
        for name in self.directions(direction):
            self.drop_share[name] = share
        if seed is not None:
            self.rng.seed(seed)

    def set_delay(self, seconds: float, direction: str = "both") -> None:
        if seconds < 0:
            raise ValueError(f"delay {seconds} is negative")
        for name in self.directions(direction):
            self.delay[name] = seconds

    def clear(self) -> None:
        for name in (UPLINK, DOWNLINK):
            self.drop_share[name] = 0.0
            self.delay[name] = 0.0

    def decide(self, direction: str) -> float | None:
        """Seconds to hold the datagram (0: now), or None to drop it."""
        stats = self.stats[direction]
        share = self.drop_share[direction]
        if share > 0.0 and self.rng.random() < share:
            stats.dropped += 1
            return None
        stats.forwarded += 1
        delay = self.delay[direction]
        if delay > 0.0:
            stats.delayed += 1
        return delay


DatagramObserver = Callable[[str, bytes, str], None]  # direction, datagram, fate


def summarise(data: bytes) -> str:
    """``CON POST mid=12 /rd?ep=x&lt=60 (42 B)``, ``DTLS handshake (120 B)`` or ``57 B``."""
    size = f"({len(data)} B)"
    if data and data[0] in (20, 21, 22, 23, 25):  # RFC 6347 ContentType (25: tls12_cid)
        kind = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application data"}
        return f"DTLS {kind.get(data[0], 'record with connection id')} {size}"
    try:
        from aiocoap.message import Message

        message = Message.decode(data)
    except Exception:  # not CoAP (any decoding error means "opaque bytes" here)
        return f"{len(data)} B"
    text = f"{message.mtype.name} {message.code} mid={message.mid}"
    path = "/".join(message.opt.uri_path)
    if path or message.opt.uri_query:
        text += f" /{path}"
        if message.opt.uri_query:
            text += "?" + "&".join(message.opt.uri_query)
    if message.opt.observe is not None:
        text += f" obs={message.opt.observe}"
    return f"{text} {size}"


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("relay listener: %s", exc)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, client: tuple[str, int]) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._from_server(data, self.client)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the server is stopped: the datagram is lost, as it
        # would be on a real network.
        log.debug("relay upstream for %s: %s", self.client, exc)


class UdpRelay:
    """Listens on ``listen`` (default 127.0.0.1, a free port) and forwards to ``target``."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        policy: FaultPolicy | None = None,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        name: str = "relay",
    ) -> None:
        self.target = target
        self.policy = policy if policy is not None else FaultPolicy()
        self.listen = listen
        self.name = name
        self.observers: list[DatagramObserver] = []
        self._listener: asyncio.DatagramTransport | None = None
        self._upstreams: dict[tuple[str, int], _Upstream] = {}
        self._pending_upstreams: dict[tuple[str, int], list[bytes]] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("the relay is not started")
        host, port = self._listener.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=self.listen
        )
        self._listener = transport

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._upstreams.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def retarget(self, target: tuple[str, int]) -> None:
        """Forward to another address from now on (a server that came back elsewhere)."""
        self.target = target
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._upstreams.clear()

    # -- datagrams
    def _notify(self, direction: str, data: bytes, fate: str) -> None:
        for observer in list(self.observers):
            try:
                observer(direction, data, fate)
            except Exception:  # a transcript problem must not stop traffic
                log.exception("relay observer failed")

    def _from_client(self, data: bytes, client: tuple[str, int]) -> None:
        delay = self.policy.decide(UPLINK)
        if delay is None:
            self._notify(UPLINK, data, "dropped")
            return
        self._notify(UPLINK, data, f"delayed {delay:g} s" if delay else "forwarded")
        self._later(delay, lambda: self._send_up(data, client))

    def _from_server(self, data: bytes, client: tuple[str, int]) -> None:
        delay = self.policy.decide(DOWNLINK)
        if delay is None:
            self._notify(DOWNLINK, data, "dropped")
            return
        self._notify(DOWNLINK, data, f"delayed {delay:g} s" if delay else "forwarded")
        self._later(delay, lambda: self._send_down(data, client))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            action()
            return
        if len(self._timers) >= MAX_DELAYED:
            log.warning("%s: too many delayed datagrams; dropping one", self.name)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            action()

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _send_down(self, data: bytes, client: tuple[str, int]) -> None:
        if self._listener is not None:
            self._listener.sendto(data, client)

    def _send_up(self, data: bytes, client: tuple[str, int]) -> None:
        upstream = self._upstreams.get(client)
        if upstream is not None and upstream.transport is not None:
            upstream.transport.sendto(data)
            return
        if client in self._pending_upstreams:
            self._pending_upstreams[client].append(data)
            return
        if len(self._upstreams) + len(self._pending_upstreams) >= MAX_CLIENTS:
            log.warning(
                "%s: more than %d clients; datagram from %s dropped", self.name, MAX_CLIENTS, client
            )
            return
        self._pending_upstreams[client] = [data]
        task = asyncio.get_running_loop().create_task(self._open_upstream(client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_upstream(self, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        target = self.target
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Upstream(self, client), remote_addr=target
            )
        except OSError as exc:
            log.warning("%s: cannot reach %s:%s: %s", self.name, target[0], target[1], exc)
            self._pending_upstreams.pop(client, None)
            return
        if self.target != target:  # retargeted while opening
            transport.close()
            self._pending_upstreams.pop(client, None)
            return
        self._upstreams[client] = protocol
        for data in self._pending_upstreams.pop(client, []):
            transport.sendto(data)
