"""The server core, sans-I/O, on a fake clock: queue mode, observe and bootstrap driven by
client requests, adapter reports and time only (no sockets, no event loop)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import SingleResource
from emulator.lwm2m.paths import LwM2MPath
from emulator.server import (
    Awake,
    BootstrapConfig,
    BootstrapFailed,
    BootstrapFailure,
    BootstrapFinished,
    BootstrapRequested,
    Deregistered,
    DeviceErrorResponse,
    DeviceTimeout,
    Notification,
    NotRegistered,
    ObservationEndCause,
    ObservationEnded,
    Registered,
    Registration,
    ServerAccount,
    Sleeping,
    Updated,
)
from emulator.server.core import ObservationRecord, ServerCore
from emulator.server.errors import QueueFull
from emulator.server.events import ServerEvent
from emulator.server.messages import (
    Action,
    Answer,
    CancelExchange,
    Completed,
    DeviceResponse,
    IncomingRequest,
    SendCancel,
    SendRequest,
    StartObservation,
    ToObservation,
)
from emulator.server.operations import CHANGED, CONTENT, CREATED, DELETED, Method

OBJECTS = b"</1/0>,</3/0>"
TEXT = int(ContentFormat.TEXT)
NOT_FOUND = (4 << 5) | 4


class Rig:
    """A core, a fake clock and what came out of the core since the last look."""

    def __init__(self, **options: Any) -> None:
        ids = itertools.count(1)
        options.setdefault("awake_time", 10.0)
        options.setdefault("request_timeout", 20.0)
        self.core = ServerCore(new_id=lambda: f"r{next(ids)}", **options)
        self.now = 0.0
        self.events: list[ServerEvent] = []
        self.actions: list[Action] = []

    def drain(self) -> None:
        while (event := self.core.next_event()) is not None:
            self.events.append(event)
        while (action := self.core.next_action()) is not None:
            self.actions.append(action)

    def take_events(self) -> list[ServerEvent]:
        self.drain()
        taken, self.events = self.events, []
        return taken

    def take_actions(self) -> list[Action]:
        self.drain()
        taken, self.actions = self.actions, []
        return taken

    def advance(self, seconds: float) -> None:
        """Move the clock, firing the core's timer at each time it asked for."""
        target = self.now + seconds
        while (when := self.core.get_timer()) is not None and when <= target:
            self.now = max(self.now, when)
            self.core.handle_timer(self.now)
        self.now = target

    def client(self, path: tuple[str, ...], *query: str, method: int = Method.POST) -> Answer:
        request = IncomingRequest(
            method=method,
            path=path,
            query=query,
            payload=OBJECTS if path == ("rd",) else b"",
            address="192.0.2.1:5683",
        )
        return self.core.handle_request(request, "peer", self.now)

    def register(self, endpoint: str = "dev", binding: str = "U", lifetime: int = 300) -> str:
        answer = self.client(("rd",), f"ep={endpoint}", f"lt={lifetime}", f"b={binding}")
        assert answer.code == CREATED
        return answer.location_path[1]

    def update(self, registration_id: str) -> None:
        assert self.client(("rd", registration_id)).code == CHANGED

    def read(self, endpoint: str = "dev", path: str = "/3/0/1", **options: Any) -> int:
        return self.core.read(
            endpoint, LwM2MPath.parse(path), ContentFormat.TEXT, now=self.now, **options
        )

    def answer(self, exchange: int, code: int = CONTENT, payload: bytes = b"", **more: Any) -> None:
        response = DeviceResponse(code=code, content_format=TEXT, payload=payload, **more)
        self.core.response_received(exchange, response, self.now)

    def notify(self, exchange: int, sequence: int | None, payload: bytes) -> None:
        response = DeviceResponse(
            code=CONTENT, content_format=TEXT, payload=payload, observe=sequence
        )
        self.core.notification_received(exchange, response, self.now)


def sent(actions: list[Action]) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest)]


def completed(actions: list[Action]) -> dict[int, Completed]:
    return {a.ticket: a for a in actions if isinstance(a, Completed)}


def kinds(events: list[ServerEvent]) -> list[type]:
    return [type(e) for e in events]


# -- queue mode (TS 1.0 §5.3.1 binding Q) ------------------------------------------------------


def asleep(rig: Rig) -> str:
    """A queue-mode client that registered at 0 and whose awake window closed at 10."""
    registration_id = rig.register(binding="UQ")
    assert kinds(rig.take_events()) == [Registered, Awake]
    rig.advance(11)
    assert kinds(rig.take_events()) == [Sleeping]
    assert not rig.core.is_awake("dev")
    return registration_id


def test_a_request_to_a_sleeping_client_is_held_until_its_update() -> None:
    rig = Rig()
    registration_id = asleep(rig)
    read = rig.read()
    write = rig.core.write("dev", LwM2MPath(1, 0, 1), 60, ContentFormat.TEXT, now=rig.now)
    assert rig.take_actions() == [] and rig.core.queued("dev") == 2  # nothing on the wire

    rig.advance(5)
    rig.update(registration_id)
    assert kinds(rig.take_events()) == [Updated, Awake]
    released = sent(rig.take_actions())
    # Released oldest first, addressed to where the Update came from.
    assert [(a.exchange, a.request.operation, a.peer) for a in released] == [
        (read, "read", "peer"),
        (write, "write", "peer"),
    ]
    assert rig.core.queued("dev") == 0

    rig.answer(read, payload=b"Quectel")
    rig.answer(write, code=CHANGED)
    done = completed(rig.take_actions())
    assert done[read].result == SingleResource(1, "Quectel") and done[read].error is None
    assert done[write].result is None and done[write].error is None


def test_registering_again_releases_the_held_requests_too() -> None:
    rig = Rig()
    asleep(rig)
    read = rig.read()
    rig.register(binding="UQ")
    assert [a.exchange for a in sent(rig.take_actions())] == [read]


def test_a_held_request_fails_at_its_deadline_if_the_client_stays_asleep() -> None:
    rig = Rig()
    asleep(rig)
    read = rig.read(timeout=5)
    rig.advance(4.9)
    assert rig.take_actions() == []
    rig.advance(0.2)
    error = completed(rig.take_actions())[read].error
    assert isinstance(error, DeviceTimeout) and "did not wake up in time" in str(error)
    assert rig.core.queued("dev") == 0
    assert rig.core.get_timer() is not None  # only the registration's expiry is left


def test_the_requests_held_for_one_client_are_bounded() -> None:
    rig = Rig(max_queued=2)
    registration_id = asleep(rig)
    first, second = rig.read(), rig.read(path="/3/0/2")
    with pytest.raises(QueueFull, match="already has 2 requests waiting"):
        rig.read(path="/3/0/3")
    assert rig.core.queued("dev") == 2
    rig.update(registration_id)
    assert [a.exchange for a in sent(rig.take_actions())] == [first, second]
    rig.read(path="/3/0/3")  # awake: sent at once, the bound is for waiting calls


def test_deregistration_fails_the_held_requests() -> None:
    rig = Rig()
    registration_id = asleep(rig)
    read = rig.read()
    assert rig.client(("rd", registration_id), method=Method.DELETE).code == DELETED
    assert isinstance(completed(rig.take_actions())[read].error, NotRegistered)
    assert kinds(rig.take_events()) == [Deregistered]
    with pytest.raises(NotRegistered):
        rig.read()


def test_an_unanswered_request_puts_the_client_to_sleep() -> None:
    rig = Rig()
    rig.register(binding="UQ")
    rig.take_events()
    read = rig.read(timeout=3)
    assert [a.exchange for a in sent(rig.take_actions())] == [read]
    rig.advance(3)
    actions = rig.take_actions()
    assert CancelExchange(exchange=read) in actions  # the adapter stops retransmitting
    error = completed(actions)[read].error
    assert isinstance(error, DeviceTimeout) and "no answer in time" in str(error)
    assert kinds(rig.take_events()) == [Sleeping]
    rig.read()
    assert sent(rig.take_actions()) == []  # the next one waits for the client


def test_an_answer_keeps_a_queue_mode_client_awake() -> None:
    rig = Rig()
    rig.register(binding="UQ")
    rig.take_events()
    rig.advance(8)
    read = rig.read()
    rig.take_actions()
    rig.answer(read, payload=b"x")
    rig.advance(9)  # 17 s after registering, 9 s after the answer
    assert rig.core.is_awake("dev") and rig.take_events() == []
    rig.advance(1.5)
    assert kinds(rig.take_events()) == [Sleeping]


def test_wait_awake_is_done_at_once_or_at_the_next_update() -> None:
    rig = Rig()
    registration_id = rig.register(binding="UQ", lifetime=86400)
    at_once = rig.core.wait_awake("dev", now=rig.now, timeout=1)
    done = completed(rig.take_actions())[at_once]
    assert isinstance(done.result, Registration) and done.result.endpoint == "dev"
    rig.advance(11)
    waiting = rig.core.wait_awake("dev", now=rig.now, timeout=None)
    rig.advance(3600)  # no deadline: it waits as long as it takes
    assert rig.take_actions() == []
    rig.update(registration_id)
    assert isinstance(completed(rig.take_actions())[waiting].result, Registration)


def test_an_error_answer_and_an_undecodable_one_fail_the_call() -> None:
    rig = Rig()
    rig.register()
    missing, garbled = rig.read(path="/3/0/99"), rig.read(path="/3/0/0")
    rig.take_actions()
    rig.answer(missing, code=NOT_FOUND, payload=b"no such resource")
    rig.core.response_received(
        garbled, DeviceResponse(code=CONTENT, content_format=99, payload=b"?"), rig.now
    )
    done = completed(rig.take_actions())
    error = done[missing].error
    assert isinstance(error, DeviceErrorResponse) and error.code_text == "4.04"
    assert "no such resource" in str(error)
    assert "undecodable answer" in str(done[garbled].error)


def test_a_late_answer_after_the_deadline_is_ignored() -> None:
    rig = Rig()
    rig.register()
    read = rig.read(timeout=1)
    rig.advance(2)
    rig.take_actions()
    rig.answer(read, payload=b"late")
    assert rig.take_actions() == []


# -- observe (TS 1.0 §5.5, RFC 7641) ----------------------------------------------------------


def observing(rig: Rig, path: str = "/3/0/13", sequence: int | None = 1) -> ObservationRecord:
    rig.register()
    rig.take_events()
    ticket = rig.core.observe("dev", LwM2MPath.parse(path), ContentFormat.TEXT, now=rig.now)
    [start] = rig.take_actions()
    assert isinstance(start, StartObservation) and start.exchange == ticket
    assert (start.request.method, start.request.observe) == (Method.GET, 0)
    rig.core.observation_started(ticket, b"tok")
    rig.answer(ticket, payload=b"1700000000", observe=sequence)
    result = completed(rig.take_actions())[ticket].result
    assert isinstance(result, ObservationRecord)
    return result


def delivered(rig: Rig) -> list[int]:
    """The values of the notifications handed to the observation's holder."""
    values = []
    for action in rig.take_actions():
        if isinstance(action, ToObservation) and action.notification is not None:
            content = action.notification.content
            assert isinstance(content, SingleResource) and isinstance(content.value, int)
            values.append(content.value)
    return values


def test_notifications_reach_the_holder_and_the_event_stream() -> None:
    rig = Rig()
    observation = observing(rig)
    assert observation.active and observation.initial == SingleResource(13, 1_700_000_000)
    assert rig.core.observations("dev") == (observation,)
    rig.advance(5)
    rig.notify(observation.id, 2, b"1700000005")
    assert delivered(rig) == [1_700_000_005]
    [event] = rig.take_events()
    assert isinstance(event, Notification) and event.sequence == 2
    assert (event.endpoint, event.path) == ("dev", LwM2MPath(3, 0, 13))


def test_stale_and_repeated_notifications_are_dropped() -> None:
    # RFC 7641 §3.4: only a notification newer than the last one counts.
    rig = Rig()
    observation = observing(rig)
    for sequence, value in ((5, 5), (5, 55), (3, 3), (6, 6)):
        rig.advance(1)
        rig.notify(observation.id, sequence, str(value).encode())
    assert delivered(rig) == [5, 6]


def test_the_sequence_number_may_wrap_around() -> None:
    rig = Rig()
    observation = observing(rig)
    rig.notify(observation.id, 2**24 - 2, b"1")
    rig.advance(1)
    rig.notify(observation.id, 1, b"2")  # ahead modulo 2**24
    rig.advance(1)
    rig.notify(observation.id, 2**23 + 5, b"3")  # more than half the space back: stale
    assert delivered(rig) == [1, 2]


def test_after_128_seconds_any_sequence_number_is_newer() -> None:
    rig = Rig()
    observation = observing(rig)
    rig.notify(observation.id, 100, b"1")
    rig.advance(128)
    rig.notify(observation.id, 50, b"2")  # not yet: exactly 128 s
    rig.advance(1)
    rig.notify(observation.id, 50, b"3")  # the client may have restarted its counter
    assert delivered(rig) == [1, 3]


def test_a_passive_cancel_forgets_the_token_and_drops_later_notifications() -> None:
    rig = Rig()
    observation = observing(rig)
    assert rig.core.cancel_observation(observation.id, active=False, now=rig.now) is None
    actions = rig.take_actions()
    assert CancelExchange(exchange=observation.id) in actions  # next CON notification: RST
    assert ToObservation(observation=observation.id) in actions  # the holder sees the end
    [ended] = rig.take_events()
    assert isinstance(ended, ObservationEnded) and ended.cause is ObservationEndCause.CANCELLED
    rig.notify(observation.id, 9, b"9")
    assert rig.take_actions() == [] and rig.take_events() == []
    assert rig.core.observations("dev") == ()


def test_an_active_cancel_reuses_the_observation_token() -> None:
    rig = Rig()
    observation = observing(rig)
    ticket = rig.core.cancel_observation(observation.id, now=rig.now)
    assert ticket is not None
    [cancel] = [a for a in rig.take_actions() if isinstance(a, SendCancel)]
    assert (cancel.token, cancel.request.observe, cancel.request.path) == (
        b"tok",
        1,
        ("3", "0", "13"),
    )
    rig.answer(ticket, payload=b"1700000009")
    assert completed(rig.take_actions())[ticket].error is None
    assert rig.core.cancel_observation(observation.id, now=rig.now) is None  # already ended


@pytest.mark.parametrize(
    ("ending", "cause", "reason"),
    [
        ("deregister", ObservationEndCause.DEREGISTERED, "registration deregistered"),
        ("register again", ObservationEndCause.REGISTERED_AGAIN, "the client registered again"),
        ("expire", ObservationEndCause.EXPIRED, "registration expired"),
        ("client", ObservationEndCause.ENDED_BY_CLIENT, "ended by the client"),
        ("transport", ObservationEndCause.TRANSPORT, "transport: DTLS session closed"),
        ("stop", ObservationEndCause.SERVER_STOPPED, "server stopped"),
    ],
)
def test_why_an_observation_ended(ending: str, cause: ObservationEndCause, reason: str) -> None:
    rig = Rig()
    observation = observing(rig)
    if ending == "deregister":
        rig.client(("rd", "r1"), method=Method.DELETE)
    elif ending == "register again":
        rig.register()
    elif ending == "expire":
        rig.advance(301)
    elif ending == "client":
        rig.core.observation_ended(observation.id, None, rig.now)
    elif ending == "transport":
        rig.core.observation_ended(observation.id, "DTLS session closed", rig.now)
    else:
        rig.core.close()
    ended = [e for e in rig.take_events() if isinstance(e, ObservationEnded)]
    assert [(e.cause, e.reason) for e in ended] == [(cause, reason)]
    assert not observation.active and observation.end_reason == reason
    assert ToObservation(observation=observation.id) in rig.take_actions()


def test_an_answer_without_observe_means_not_observable() -> None:
    rig = Rig()
    observation = observing(rig, sequence=None)
    assert not observation.active
    assert observation.end_cause is ObservationEndCause.NOT_OBSERVABLE
    assert observation.initial == SingleResource(13, 1_700_000_000)
    assert rig.core.observations("dev") == ()


def test_an_observe_refused_with_an_error_code_fails_the_call() -> None:
    rig = Rig()
    rig.register()
    rig.take_events()
    ticket = rig.core.observe("dev", LwM2MPath(3, 0, 99), ContentFormat.TEXT, now=rig.now)
    rig.take_actions()
    rig.answer(ticket, code=NOT_FOUND)
    error = completed(rig.take_actions())[ticket].error
    assert isinstance(error, DeviceErrorResponse) and error.operation == "observe"
    assert rig.core.observations("dev") == () and rig.core.observation(ticket) is None
    assert rig.take_events() == []  # it never was an observation


def test_an_observe_of_a_sleeping_client_waits_for_it() -> None:
    rig = Rig()
    registration_id = asleep(rig)
    ticket = rig.core.observe("dev", LwM2MPath(3, 0, 13), ContentFormat.TEXT, now=rig.now)
    assert rig.take_actions() == []
    rig.update(registration_id)
    [start] = rig.take_actions()
    assert isinstance(start, StartObservation) and start.exchange == ticket


def test_a_notification_wakes_a_queue_mode_client() -> None:
    rig = Rig()
    rig.register(binding="UQ")
    rig.take_events()
    ticket = rig.core.observe("dev", LwM2MPath(3, 0, 13), ContentFormat.TEXT, now=rig.now)
    rig.take_actions()
    rig.answer(ticket, payload=b"1", observe=1)
    rig.advance(11)
    assert kinds(rig.take_events()) == [Sleeping]
    rig.notify(ticket, 2, b"2")  # a notification is the client talking: it is awake
    assert kinds(rig.take_events()) == [Awake, Notification]
    assert rig.core.is_awake("dev")


# -- bootstrap (TS 1.0 §5.2.7) ----------------------------------------------------------------


def bootstrapping(rig: Rig) -> list[SendRequest]:
    account = ServerAccount(uri="coap://192.0.2.7:5683", short_server_id=3)
    rig.core.set_bootstrap_config("fresh", BootstrapConfig(servers=(account,)))
    assert rig.client(("bs",), "ep=fresh").code == CHANGED
    assert kinds(rig.take_events()) == [BootstrapRequested]
    return sent(rig.take_actions())


def test_bootstrap_runs_its_requests_one_after_the_other() -> None:
    rig = Rig()
    first = bootstrapping(rig)
    operations = []
    requests = first
    while requests:
        [request] = requests
        operations.append(request.request.operation)
        assert request.peer == "peer"
        code = CHANGED if request.request.method in (Method.PUT, Method.POST) else DELETED
        rig.answer(request.exchange, code=code)
        requests = sent(rig.take_actions())
    assert operations == [
        "bootstrap-delete /0",
        "bootstrap-delete /1",
        "bootstrap-write /0/1",
        "bootstrap-write /1/0",
        "bootstrap-finish",
    ]
    assert kinds(rig.take_events()) == [BootstrapFinished]


def test_bootstrap_stops_at_an_error_answer() -> None:
    rig = Rig()
    [delete] = bootstrapping(rig)
    rig.answer(delete.exchange, code=(4 << 5) | 0, payload=b"no")
    assert sent(rig.take_actions()) == []
    [failed] = rig.take_events()
    assert isinstance(failed, BootstrapFailed) and failed.cause is BootstrapFailure.DEVICE_ERROR
    assert "bootstrap-delete /0" in failed.reason and "4.00" in failed.reason


def test_bootstrap_stops_when_the_client_does_not_answer() -> None:
    rig = Rig(request_timeout=7)
    bootstrapping(rig)
    rig.advance(7)
    assert CancelExchange in {type(a) for a in rig.take_actions()}
    [failed] = rig.take_events()
    assert isinstance(failed, BootstrapFailed) and failed.cause is BootstrapFailure.NO_ANSWER


def test_a_new_bootstrap_request_voids_the_running_sequence() -> None:
    rig = Rig()
    [old] = bootstrapping(rig)
    [new] = bootstrapping(rig)
    assert new.request.operation == "bootstrap-delete /0"
    rig.answer(old.exchange, code=DELETED)  # the answer to the voided run is ignored
    assert sent(rig.take_actions()) == []
    rig.answer(new.exchange, code=DELETED)
    assert [a.request.operation for a in sent(rig.take_actions())] == ["bootstrap-delete /1"]


def test_an_unknown_bootstrap_endpoint_is_answered_4_00() -> None:
    rig = Rig()
    answer = rig.client(("bs",), "ep=stranger")
    assert answer.code == (4 << 5) | 0 and b"no bootstrap configuration" in answer.payload
    assert rig.take_events() == [] and rig.take_actions() == []


def test_stop_fails_every_call_in_flight_or_held() -> None:
    rig = Rig()
    asleep(rig)
    held = rig.read()
    rig.register("awake")
    in_flight = rig.read("awake")
    rig.take_actions()
    rig.core.close()
    done = completed(rig.take_actions())
    assert {held, in_flight} <= done.keys()
    assert all("stopped" in str(done[t].error) for t in (held, in_flight))
    assert rig.core.get_timer() is None


def test_a_stopped_core_refuses_calls_and_client_requests() -> None:
    rig = Rig()
    rig.register()
    rig.core.close()
    with pytest.raises(DeviceTimeout, match="the server is stopped"):
        rig.read()
    answer = rig.client(("rd",), "ep=late", "lt=60")
    assert answer.code == (5 << 5) | 3 and answer.max_age is not None
