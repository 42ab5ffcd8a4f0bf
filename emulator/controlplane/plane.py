"""The control plane's core: module events and URCs in, MQTT messages out; requests in,
controls and AT lines carried out on the modules, responses out (sans-I/O).

The adapter (``emulator.adapters.controlplane``) feeds it what the broker delivers
(:meth:`ControlPlane.receive`), says when the broker comes and goes, calls
:meth:`ControlPlane.service` when woken or when :meth:`ControlPlane.get_timer` is due, and
publishes what :meth:`ControlPlane.next_message` gives. Everything is bounded: the outgoing
queue (events past it are dropped and counted, as they are while no broker is there), the AT
requests waiting per module, the log (each kind of trouble is logged once).

An AT request shares the module's one AT interpreter with its port, as two programs on one
UART would: it waits until no line is half-typed or running there, then the line goes in and
the response (information lines, the final result code; not the echo, not URCs) comes back.
A command that opens a ``> `` prompt gets the request's ``data`` (CTRL-Z added when missing);
without data the prompt is cancelled with ESC and the request answered with an error.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

from emulator.controlplane.controls import ControlError, apply_control
from emulator.controlplane.schema import (
    AtRequest,
    PayloadError,
    Topics,
    encode,
    event_fields,
    looks_like_imei,
    parse_at_request,
    parse_control_request,
    split_response,
)
from emulator.module.events import ModuleEvent
from emulator.module.virtual import VirtualModule

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE_LIMIT: Final = 20_000  # outgoing messages held for the broker, at least
QUEUE_PER_MODULE: Final = 16  # and per module: a boot (RDY ... +QIND, events) fits whole
AT_QUEUE_LIMIT: Final = 8  # AT requests waiting per module
IDLE_POLL: Final = 0.02  # seconds between looks at a port that is busy with another line
ESC: Final = b"\x1b"
CTRL_Z: Final = b"\x1a"


class Hosted(Protocol):
    """What the plane needs of a running module (``emulator.adapters.host.ModuleHost``)."""

    @property
    def module(self) -> VirtualModule: ...

    def feed(self, data: bytes) -> None: ...

    def apply(self, fn: Callable[[float], T]) -> T: ...

    def add_listener(self, listener: Callable[[ModuleEvent], None]) -> None: ...


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0  # 1 for the instance status: it must not be lost


@dataclass
class Counters:
    """What the plane did; the instance status carries them."""

    events: int = 0  # event and URC messages queued for the broker
    dropped: int = 0  # messages dropped: no broker, or the queue was full
    requests: int = 0  # requests received for modules served here
    bad_requests: int = 0  # answered with an error: malformed, refused, timed out
    refused: int = 0  # AT requests refused because too many waited for one module
    foreign: int = 0  # requests for IMEIs not served by this process (left to others)
    inbox_dropped: int = 0  # requests the adapter dropped in a flood

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Running:
    request: AtRequest
    deadline: float
    response: bytearray = field(default_factory=bytearray)
    line_number: int = 0  # the engine's line count once this line has run
    fed: bool = False
    answered: bool = False  # response bytes came since the last input
    data_sent: bool = False
    cancelled: bool = False  # its prompt got no data: ESC was sent


@dataclass
class _Module:
    imei: str
    host: Hosted
    waiting: deque[AtRequest] | None = None
    running: _Running | None = None


class ControlPlane:
    def __init__(
        self,
        topics: Topics,
        instance: str,
        modules: Mapping[str, Hosted],
        *,
        wall_clock: Callable[[], float],
        describe: Mapping[str, Any] | None = None,
        queue_limit: int = QUEUE_LIMIT,
        at_queue_limit: int = AT_QUEUE_LIMIT,
    ) -> None:
        self.topics = topics
        self.instance = instance
        self.wall_clock = wall_clock
        self.describe = dict(describe or {})
        self.queue_limit = max(queue_limit, QUEUE_PER_MODULE * len(modules))
        self.at_queue_limit = at_queue_limit
        self.counters = Counters()
        self.connected = False
        self.closing = False
        self.wake: Callable[[], None] = lambda: None
        self._modules = {imei: _Module(imei, host) for imei, host in modules.items()}
        self._queue: deque[Outgoing] = deque()
        self._dirty: dict[str, None] = {}  # modules whose retained status is to be published
        self._instance_due = False
        self._timers: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._due: dict[str, None] = {}  # modules whose AT request may have progressed
        self._logged: set[str] = set()
        self._dropped_while_away = 0

    # ------------------------------------------------------------------ wiring
    def attach(self) -> None:
        """Watch every module's URCs and events (call once, before the modules run)."""
        for state in self._modules.values():
            engine = state.host.module.engine
            engine.urc_tap = self._urc_listener(state.imei)
            state.host.add_listener(self._event_listener(state.imei))

    def _urc_listener(self, imei: str) -> Callable[[str], None]:
        def on_urc(text: str) -> None:
            self._event(self.topics.urc(imei), {"imei": imei, "text": text})

        return on_urc

    def _event_listener(self, imei: str) -> Callable[[ModuleEvent], None]:
        def on_event(event: ModuleEvent) -> None:
            mapped = event_fields(event)
            if mapped is None:
                return
            kind, fields = mapped
            self._event(self.topics.event(imei, kind), {"imei": imei, "event": kind, **fields})
            self._dirty[imei] = None

        return on_event

    # ------------------------------------------------------------ broker state
    def will(self) -> Outgoing:
        """The last will: the instance status saying offline (retained)."""
        return Outgoing(self.topics.instance(self.instance), self._instance_payload(False), True, 1)

    def broker_connected(self) -> None:
        self.connected = True
        if self._dropped_while_away:
            log.warning(
                "MQTT broker reached again; %d messages were dropped while it was away",
                self._dropped_while_away,
            )
            self._dropped_while_away = 0
        self._instance_due = True
        self._dirty = dict.fromkeys(self._modules)
        self.wake()

    def broker_lost(self) -> None:
        self.connected = False
        lost = len(self._queue)
        self._queue.clear()
        self.counters.dropped += lost
        self._dropped_while_away += lost

    def close(self) -> None:
        """The process is stopping: offline statuses for everything (then the adapter
        drains them and disconnects)."""
        self.closing = True
        self._instance_due = True
        self._dirty = dict.fromkeys(self._modules)
        self.wake()

    # ----------------------------------------------------------------- outputs
    def next_message(self) -> Outgoing | None:
        if not self.connected:
            return None
        if self._instance_due:
            self._instance_due = False
            return Outgoing(
                self.topics.instance(self.instance),
                self._instance_payload(not self.closing),
                True,
                1,
            )
        if self._queue:
            return self._queue.popleft()
        while self._dirty:
            imei = next(iter(self._dirty))
            del self._dirty[imei]
            state = self._modules.get(imei)
            if state is not None:
                return Outgoing(self.topics.status(imei), self._status_payload(state), True)
        return None

    def pending(self) -> int:
        return len(self._queue) + len(self._dirty) + int(self._instance_due)

    def get_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def _publish(self, message: Outgoing) -> bool:
        if not self.connected:
            self.counters.dropped += 1
            self._dropped_while_away += 1
            self._once(
                "away",
                "MQTT broker not connected: events are dropped (and counted) until it is back",
            )
            return False
        if len(self._queue) >= self.queue_limit:
            self.counters.dropped += 1
            self._once(
                "full",
                f"MQTT outgoing queue full ({self.queue_limit} messages): events are dropped "
                "(and counted)",
            )
            return False
        self._queue.append(message)
        self.wake()
        return True

    def _event(self, topic: str, fields: dict[str, Any]) -> None:
        if self.closing:
            return
        fields["time"] = round(self.wall_clock(), 3)
        if self._publish(Outgoing(topic, encode(fields))):
            self.counters.events += 1

    def _reply(self, imei: str, kind: str, fields: dict[str, Any]) -> None:
        if "error" in fields and fields["error"] is not None:
            self.counters.bad_requests += 1
        self._publish(Outgoing(self.topics.response(imei, kind), encode(fields)))

    def _once(self, key: str, message: str, level: int = logging.WARNING) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, "%s", message)

    # ----------------------------------------------------------------- payloads
    def _instance_payload(self, online: bool) -> bytes:
        imeis = list(self._modules)
        return encode(
            {
                "instance": self.instance,
                "online": online,
                "modules": len(imeis),
                "first_imei": imeis[0] if imeis else None,
                "last_imei": imeis[-1] if imeis else None,
                **self.describe,
                "counters": self.counters.as_dict(),
                "time": round(self.wall_clock(), 3),
            }
        )

    def _status_payload(self, state: _Module) -> bytes:
        module = state.host.module
        radio = module.radio
        lwm2m = module.components.get("lwm2m")
        stat = getattr(lwm2m, "stat", None)
        if module.powered_off:
            power = "off"
        elif module.engine.quiet:
            power = "booting"
        else:
            power = "on"
        return encode(
            {
                "imei": state.imei,
                "instance": self.instance,
                "online": not self.closing,
                "model": module.profile.name,
                "power": power,
                "registration": int(radio.stat),
                "registered": radio.registered,
                "lwm2m": int(stat()) if callable(stat) else None,
                "rssi": radio.rssi,
                "sim": radio.sim.value,
                "pdp": {
                    str(cid): ctx.address
                    for cid, ctx in sorted(radio.contexts.items())
                    if ctx.active
                },
                "time": round(self.wall_clock(), 3),
            }
        )

    # ------------------------------------------------------------------ inputs
    def receive(self, topic: str, payload: bytes, now: float) -> None:
        """A message from the broker (on the request topics this process subscribed to)."""
        parsed = self.topics.parse_request(topic)
        if parsed is None:
            return
        imei, kind = parsed
        if not looks_like_imei(imei):
            self.counters.bad_requests += 1
            self._publish(
                Outgoing(
                    self.topics.response(imei, kind),
                    encode({"id": None, "error": f"{imei!r} is not an IMEI (15 digits)"}),
                )
            )
            return
        state = self._modules.get(imei)
        if state is None:
            self.counters.foreign += 1
            self._once(
                "foreign",
                f"requests for IMEIs not served here are left to other processes (first: {imei})",
                logging.INFO,  # normal in a fleet: every process sees every request
            )
            return
        self.counters.requests += 1
        if kind == "control":
            self._control(state, payload)
            return
        try:
            request = parse_at_request(payload)
        except PayloadError as exc:
            self._reply(imei, "at", {"id": exc.request_id, "error": str(exc)})
            return
        waiting = state.waiting if state.waiting is not None else deque()
        state.waiting = waiting
        if len(waiting) >= self.at_queue_limit:
            self.counters.refused += 1
            self._once(
                "at-flood",
                f"AT request flood: more than {self.at_queue_limit} requests waiting for one "
                "module are refused",
            )
            self._reply(
                imei,
                "at",
                {
                    "id": request.request_id,
                    "line": request.line,
                    "error": f"{len(waiting)} AT requests already wait for this module",
                },
            )
            return
        waiting.append(request)
        self._advance(state, now)

    def inbox_overflow(self, count: int) -> None:
        """The adapter dropped ``count`` requests it had no room for (a flood)."""
        self.counters.inbox_dropped += count
        self._once("inbox", "control request flood: requests beyond the inbox are dropped")

    def service(self, now: float) -> None:
        """Run what is due: AT requests that progressed, timers."""
        while self._timers and self._timers[0][0] <= now:
            _, _, imei = heapq.heappop(self._timers)
            self._due[imei] = None
        due, self._due = self._due, {}
        for imei in due:
            state = self._modules[imei]
            run = state.running
            if run is not None and now >= run.deadline:
                self._time_out(state, now)
            else:
                self._advance(state, now)

    # ---------------------------------------------------------------- controls
    def _control(self, state: _Module, payload: bytes) -> None:
        try:
            request = parse_control_request(payload)
        except PayloadError as exc:
            self._reply(state.imei, "control", {"id": exc.request_id, "error": str(exc)})
            return
        module = state.host.module
        answer: dict[str, Any] = {"id": request.request_id, "control": request.name}
        try:
            result = state.host.apply(lambda now: apply_control(module, request.control, now))
        except ControlError as exc:
            self._reply(state.imei, "control", {**answer, "error": str(exc)})
            return
        self._reply(state.imei, "control", {**answer, "error": None, "result": result})
        self._dirty[state.imei] = None

    # ------------------------------------------------------------- AT requests
    def _at_timer(self, state: _Module, when: float) -> None:
        earliest = not self._timers or when < self._timers[0][0]
        heapq.heappush(self._timers, (when, next(self._seq), state.imei))
        if earliest:
            self.wake()  # the adapter re-reads get_timer()

    def _advance(self, state: _Module, now: float) -> None:
        """Start the next request when the port is free; run as many as complete at once."""
        module = state.host.module
        engine = module.engine
        while True:
            while state.running is None and state.waiting:
                request = state.waiting.popleft()
                if module.powered_off:
                    self._at_error(state, request, "the module is powered down (control: power on)")
                    continue
                state.running = _Running(request, deadline=now + request.timeout)
                self._at_timer(state, state.running.deadline)
            run = state.running
            if run is None:
                return
            if not run.fed:
                if module.powered_off:
                    self._finish(state, "the module is powered down (control: power on)")
                    continue
                if not engine.idle:  # another line on the port, or booting: look again soon
                    self._at_timer(state, now + IDLE_POLL)
                    return
                engine.response_tap = self._response_listener(state, run)
                run.line_number = engine.stats.lines + 1
                run.fed = True
                state.host.feed(run.request.line.encode("utf-8") + b"\r")
            self._check(state)
            if state.running is run:  # waiting for a busy command, a prompt's answer
                return

    def _response_listener(self, state: _Module, run: _Running) -> Callable[[bytes], None]:
        engine = state.host.module.engine

        def on_response(data: bytes) -> None:
            if engine.stats.lines > run.line_number:
                return  # the port's next line (it waited behind ours): not ours to report
            run.response += data
            run.answered = True
            self._due[state.imei] = None
            self.wake()

        return on_response

    def _check(self, state: _Module) -> None:
        run = state.running
        engine = state.host.module.engine
        if run is None or not run.answered or engine.busy:
            return
        if engine.in_data_mode:
            run.answered = False
            if run.request.data is not None and not run.data_sent:
                run.data_sent = True
                data = run.request.data.encode("latin-1", "replace")
                if not data.endswith((CTRL_Z, ESC)):
                    data += CTRL_Z
                state.host.feed(data)
            else:
                run.cancelled = True
                state.host.feed(ESC)
            self._check(state)
            return
        if run.cancelled:
            self._finish(
                state,
                f"{run.request.line} waits for data after its prompt: give it in 'data'",
            )
        else:
            self._finish(state, None)

    def _time_out(self, state: _Module, now: float) -> None:
        run = state.running
        assert run is not None
        engine = state.host.module.engine
        if run.fed and engine.in_data_mode and not engine.busy:
            state.host.feed(ESC)  # leave no prompt open behind us
        self._finish(state, f"no final result code within {run.request.timeout:g} s")
        self._advance(state, now)

    def _finish(self, state: _Module, error: str | None) -> None:
        run = state.running
        assert run is not None
        state.running = None
        engine = state.host.module.engine
        if run.fed:
            engine.response_tap = None
        text = run.response.decode("latin-1")
        lines, final = split_response(text)
        self._reply(
            state.imei,
            "at",
            {
                "id": run.request.request_id,
                "line": run.request.line,
                "error": error,
                "response": text,
                "lines": lines,
                "final": final,
            },
        )
        self._due[state.imei] = None  # the next waiting request
        self.wake()

    def _at_error(self, state: _Module, request: AtRequest, error: str) -> None:
        self._reply(
            state.imei, "at", {"id": request.request_id, "line": request.line, "error": error}
        )
