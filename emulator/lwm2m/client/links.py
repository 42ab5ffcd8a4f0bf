"""Per-server registration state: phases and the transitions allowed between them.

One ``ServerLink`` per server account the client is working with (the bootstrap server while
it bootstraps, each DM server while it registers or is registered). The transition table is
the single place that says which phase may follow which (OMA LwM2M TS 1.0 §5.2-5.3: bootstrap,
register, update, deregister; plus the module's own waiting states).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import SecurityEntry, ServerEntry, ServerUri
from .events import IdentityEnum
from .messages import CoapRequest, SendNotification


class Phase(IdentityEnum):
    IDLE = "idle"
    PREPARING = "preparing"  # address resolution and socket: the "initial" step
    HANDSHAKING = "handshaking"  # DTLS-PSK
    BOOTSTRAPPING = "bootstrapping"  # Bootstrap-Request sent, waiting for Bootstrap-Finish
    REGISTERING = "registering"
    REGISTERED = "registered"
    UPDATING = "updating"
    DEREGISTERING = "deregistering"
    FAILED = "failed"  # login failed; a retry may be scheduled (maxreconntime)
    WAITING = "waiting"  # disconnected; reconnects after disable_timeout
    SUSPENDED = "suspended"  # no network; resumes when it is back


class Goal(IdentityEnum):
    """What a link does once its session is up."""

    BOOTSTRAP = "bootstrap"
    REGISTER = "register"
    UPDATE = "update"


_CONNECTED = {Phase.BOOTSTRAPPING, Phase.REGISTERING, Phase.UPDATING}
_DROP = {Phase.IDLE, Phase.FAILED, Phase.WAITING, Phase.SUSPENDED}

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.PREPARING}),
    Phase.PREPARING: frozenset({Phase.HANDSHAKING} | _CONNECTED | _DROP),
    Phase.HANDSHAKING: frozenset(_CONNECTED | _DROP),
    Phase.BOOTSTRAPPING: frozenset({Phase.IDLE, Phase.FAILED, Phase.SUSPENDED}),
    Phase.REGISTERING: frozenset({Phase.REGISTERED} | _DROP),
    Phase.REGISTERED: frozenset({Phase.UPDATING, Phase.DEREGISTERING, Phase.REGISTERING} | _DROP),
    Phase.UPDATING: frozenset({Phase.REGISTERED, Phase.REGISTERING, Phase.DEREGISTERING} | _DROP),
    Phase.DEREGISTERING: frozenset({Phase.IDLE, Phase.WAITING, Phase.SUSPENDED}),
    Phase.FAILED: frozenset({Phase.PREPARING, Phase.IDLE}),
    Phase.WAITING: frozenset({Phase.PREPARING, Phase.IDLE, Phase.SUSPENDED}),
    Phase.SUSPENDED: frozenset({Phase.PREPARING, Phase.IDLE}),
}

# Phases in which the server may talk to the device over the link's session.
SESSION_PHASES = frozenset(
    {Phase.BOOTSTRAPPING, Phase.REGISTERING, Phase.REGISTERED, Phase.UPDATING, Phase.DEREGISTERING}
)
ACTIVE_PHASES = frozenset(
    {
        Phase.PREPARING,
        Phase.HANDSHAKING,
        Phase.BOOTSTRAPPING,
        Phase.REGISTERING,
        Phase.REGISTERED,
        Phase.UPDATING,
        Phase.DEREGISTERING,
        Phase.WAITING,
        Phase.SUSPENDED,
    }
)


class TransitionError(RuntimeError):
    """The client tried a transition the table does not allow (a bug, never user input)."""


@dataclass(kw_only=True)
class ServerLink:
    """The client's state towards one server."""

    security: SecurityEntry
    server: ServerEntry | None  # None for the bootstrap server
    uri: ServerUri
    phase: Phase = Phase.IDLE
    goal: Goal = Goal.REGISTER
    attempt: int = 0  # bumps with each new session: stale adapter results are ignored
    session_open: bool = False
    location: tuple[str, ...] = ()  # Location-Path of the registration (TS 1.0 §5.3.1)
    registered_until: float = 0.0
    update_at: float | None = None
    retry_at: float | None = None
    sleep_at: float | None = None  # queue mode: when the awake window closes
    deadline: float | None = None  # bootstrap: Bootstrap-Finish must come before this
    asleep: bool = False
    update_again: bool = False
    send_lifetime: bool = False
    send_binding: bool = False
    send_objects: bool = False
    failures_since: float | None = None  # first failure of a run of failed logins
    failures: int = 0
    held: list[SendNotification] = field(default_factory=list)
    plain_update: CoapRequest | None = None  # the last Update with nothing but the location

    @property
    def server_id(self) -> int:
        return self.security.server_id

    @property
    def ssid(self) -> int:
        return self.security.ssid

    @property
    def queue_mode(self) -> bool:
        return self.server is not None and "Q" in self.server.binding

    def go(self, phase: Phase) -> None:
        if phase is self.phase:
            return
        if phase not in TRANSITIONS[self.phase]:
            raise TransitionError(f"server {self.ssid}: {self.phase.name} -> {phase.name}")
        self.phase = phase

    def clear_timers(self) -> None:
        self.update_at = self.retry_at = self.sleep_at = self.deadline = None
