"""The module's LwM2M client, sans-I/O: module events and adapter results in, URCs and actions out.

It sits beside a :class:`~emulator.module.virtual.VirtualModule` (one per module, created by the
AT family as the module's ``"lwm2m"`` component) and owns the configuration, the object store,
the observations, the firmware machine and one :class:`~.links.ServerLink` per server. It
raises ``+QLWURC`` URCs on the module, schedules its timers on the module's clock and queues
:mod:`.messages` actions for the CoAP adapter (:mod:`.coap`), which performs them and reports
back through the input methods below. Nothing here touches a socket.

Flows (the URC order of each is written down in docs/lwm2m-flows.md and in the profile):

- start (``AT+QLWREG``, or boot with ``"startup",1``): PDP context → per server "initial"
  (address/socket) → "dtls" (coaps only) → Register (TS 1.0 §5.3.1) → "ready";
  a client with only a bootstrap account bootstraps first (TS 1.0 §5.2.2): "bootstraping",
  Bootstrap-Request, the server's Bootstrap-Write/Delete/Discover, Bootstrap-Finish →
  "bootstrap" → registration with the servers it was given.
- Update (TS 1.0 §5.3.2) before the lifetime runs out, on ``AT+QLWUPDATE``, on the Server
  object's Registration Update Trigger, and when the lifetime, binding or objects change.
  An Update answered 4.04 (or any 4.xx) means the server forgot us: register afresh.
- Deregister (TS 1.0 §5.3.3) on ``AT+QLWDEREG``, and on the Server object's Disable (then the
  client reconnects after the Disable Timeout).
- Queue mode (binding with ``Q``, TS 1.0 §7.3): after each Register/Update the device takes
  requests for ``queue_awake`` seconds, then sleeps until its next Update.
- The network going away (coverage, PDP) suspends every link; when it is back the client
  activates PDP again and updates (or registers, if the registration expired meanwhile).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from emulator.at.errors import CmeError
from emulator.lwm2m import LwM2MPath, ObjectStore, ObservationManager, default_registry
from emulator.lwm2m.client.errors import ClientStateError
from emulator.lwm2m.errors import LwM2MError
from emulator.lwm2m.events import (
    InstanceCreated,
    InstanceDeleted,
    ResourceExecuted,
    ResourcesWritten,
    StoreEvent,
)
from emulator.lwm2m.linkformat import build_register_payload
from emulator.module.events import (
    BootCompleted,
    ModuleEvent,
    PdpContextChanged,
    PoweredDown,
    RebootCause,
    RebootStarted,
    RegistrationChanged,
    SignalChanged,
)
from emulator.module.virtual import VirtualModule

from . import objects
from .config import (
    MODE_PSK,
    NV_NAMESPACE,
    ClientConfig,
    ConfigError,
    SecurityEntry,
    ServerEntry,
)
from .events import (
    ClientWork,
    LifetimeWritten,
    LwM2MNotice,
    LwM2MStatus,
    LwM2MStatusChanged,
    NoticeKind,
    Outcome,
    PdpResult,
    ServerResult,
    StepStarted,
)
from .firmware import DownloadError, FirmwareHooks, FirmwareUpdate
from .links import ACTIVE_PHASES, SESSION_PHASES, Goal, Phase, ServerLink
from .messages import (
    CHANGED,
    CREATED,
    DELETE,
    DELETED,
    POST,
    Action,
    CancelDownload,
    CloseSession,
    CoapRequest,
    CoapResponse,
    Handshake,
    PrepareSession,
    ResetTransport,
    SendNotification,
    SendRequest,
    SetReachable,
    StartDownload,
    is_success,
)
from .operations import Operations
from .settings import ClientSettings

log = logging.getLogger(__name__)

_CLIENT_WORK = ClientWork()  # one instance serves: the event carries nothing

UNAUTHORIZED = 0x81  # 4.01: a request from a peer that is none of our servers

# AT+QLWSTAT? values (QuecPython document, lw.stat()).
STAT_NOT_REGISTERED = LwM2MStatus.NOT_REGISTERED
STAT_REGISTERING = LwM2MStatus.REGISTERING
STAT_REGISTERED = LwM2MStatus.REGISTERED
STAT_DEREGISTERING = LwM2MStatus.DEREGISTERING
STAT_LOGIN_FAILED = LwM2MStatus.LOGIN_FAILED


class LwM2MClient:
    """One module's LwM2M client (see the module docstring)."""

    def __init__(self, module: VirtualModule, settings: ClientSettings) -> None:
        self.module = module
        self.settings = settings
        self._actions: deque[Action] = deque()
        self._work_posted = False
        self._request_ids = itertools.count(1)
        self._requests: dict[int, tuple[int, str]] = {}  # request id -> (server id, kind)
        self._deferred: list[tuple[float, int, Callable[[float], None]]] = []
        self._deferred_seq = itertools.count()
        self._scheduled: set[float] = set()
        self._timer_due = self._on_timer  # bound once: see _on_timer
        self._status = LwM2MStatus.NOT_REGISTERED  # as last posted (LwM2MStatusChanged)
        self._links: dict[int, ServerLink] = {}
        self._now = 0.0
        self._awaiting_network = False
        self._network_up = False
        self._pdp_failed = False
        self._apn_retries_left = 0
        self._apn_retry_at: float | None = None
        self.endpoint = ""
        self._spread_share = ("", 0.0)  # (endpoint, its share of update_spread)
        self.firmware = FirmwareUpdate(
            settings.firmware,
            FirmwareHooks(
                download_mode=lambda: self.config.fota_download,
                update_mode=lambda: self.config.fota_update,
                start_download=self._start_download,
                cancel_download=lambda: self._act(CancelDownload()),
                notify=self._notify,
                apply=self._schedule_firmware_apply,
                changed=self._firmware_changed,
            ),
        )
        self.config = ClientConfig.factory(settings)
        self._power_on()
        # Give up on a request when no response came by then (the same for every request).
        self._response_timeout = (
            settings.timing.response_timeout or settings.coap.max_transmit_wait + 1.0
        )

    # ================================================================= set-up
    def _power_on(self) -> None:
        """State after power-on or a restart: configuration and FOTA outcome from NV."""
        saved = self.module.nv.load(NV_NAMESPACE)
        self.config = ClientConfig.from_nv(saved.get("config", {}), self.settings).stored()
        # "startup" is read at power-on: a host that sets it while the boot URCs still come
        # (the port answers from RDY on) means the next boot, not this one.
        self._register_at_boot = bool(self.config.startup)
        self.firmware = FirmwareUpdate(self.settings.firmware, self.firmware.hooks)
        self.firmware.restore(saved.get("fota", {}))
        self.store = ObjectStore(default_registry())
        objects.install_constraints(self.store, self.settings)
        self.observations = ObservationManager(self.store)
        self.operations = Operations(
            store=self.store, observations=self.observations, settings=self.settings
        )
        self.device = objects.DeviceObjects(
            module=self.module,
            settings=self.settings,
            store=self.store,
            firmware=self.firmware,
            now=lambda: self._now,
            notify=self._notify,
            later=self._later,
        )
        self.device.install()
        objects.install_accounts(self.store, self.config, self.settings)
        self.store.add_listener(self._on_store_event)

    def save(self) -> None:
        """Write the configuration (and the FOTA outcome) to the module's NV store."""
        self.module.nv.save(
            NV_NAMESPACE, {"config": self.config.to_nv(), "fota": self.firmware.saved()}
        )

    # ========================================================= notices, timers
    def _notify(self, notice: LwM2MNotice) -> None:
        """Report ``notice`` to the module's adapters and families (the AT family shows it as
        a ``+QLWURC``, when ``AT+QLWCFG="urc"`` is on)."""
        self.module.emit(notice, self._now)

    def _server_result(self, kind: NoticeKind, link: ServerLink, *, ok: bool) -> None:
        outcome = Outcome.SUCCESS if ok else Outcome.FAILURE
        self._notify(ServerResult(kind=kind, outcome=outcome, ssid=link.ssid))

    def _later(self, delay: float, callback: Callable[[float], None]) -> None:
        heapq.heappush(self._deferred, (self._now + delay, next(self._deferred_seq), callback))

    def _act(self, action: Action) -> None:
        self._actions.append(action)

    def next_action(self) -> Action | None:
        """The oldest action for the adapter, or None."""
        self._work_posted = False
        return self._actions.popleft() if self._actions else None

    def get_timer(self) -> float | None:
        # Runs after every input (``_settle``): plain comparisons, no lists or generators.
        earliest: float | None = None
        for link in self._links.values():
            for t in (link.update_at, link.retry_at, link.sleep_at, link.deadline):
                if t is not None and (earliest is None or t < earliest):
                    earliest = t
        candidates = (
            self._deferred[0][0] if self._deferred else None,
            self._apn_retry_at,
            self.observations.get_timer() if self.observations.active else None,
        )
        for t in candidates:
            if t is not None and (earliest is None or t < earliest):
                earliest = t
        return earliest

    def _settle(self) -> None:
        """After every input: send due notifications, re-arm the timer, wake the adapter."""
        if self.observations.active:
            self._pump_notifications(self._now)
        when = self.get_timer()
        if when is not None and when not in self._scheduled:
            self._scheduled.add(when)
            self.module.call_at(when, self._timer_due)
        if self._actions and not self._work_posted:
            self._work_posted = True
            self.module.post_event(_CLIENT_WORK)
        status = self.stat()
        if status is not self._status:
            previous, self._status = self._status, status
            self.module.post_event(LwM2MStatusChanged(status=status, previous=previous))

    def _on_timer(self, now: float) -> None:
        # One bound method for every timer (made once, in __init__): a timer costs the
        # module's heap one tuple and nothing else the collector must walk. The module runs
        # every timer due by ``now`` in this turn, so no ``when`` up to ``now`` stays booked.
        for when in [when for when in self._scheduled if when <= now]:
            self._scheduled.discard(when)  # (in place: a new set would be one more object)
        self.handle_timer(now)

    def handle_timer(self, now: float) -> None:
        self._now = now
        while self._deferred and self._deferred[0][0] <= now:
            _, _, callback = heapq.heappop(self._deferred)
            callback(now)
        if self._apn_retry_at is not None and now >= self._apn_retry_at:
            self._apn_retry_at = None
            self._bring_up(now)
        for link in list(self._links.values()):
            self._link_timers(link, now)
        self._settle()

    def _link_timers(self, link: ServerLink, now: float) -> None:
        if link.deadline is not None and now >= link.deadline:
            link.deadline = None
            if link.phase is Phase.BOOTSTRAPPING:
                self._server_result(NoticeKind.BOOTSTRAP, link, ok=False)
                self._fail(link, now)
        if link.retry_at is not None and now >= link.retry_at:
            link.retry_at = None
            if link.phase in (Phase.FAILED, Phase.WAITING):
                if self._network_up:
                    self._connect(link, link.goal, now)
                else:
                    link.go(Phase.SUSPENDED)
                    self._bring_up(now)
        if link.sleep_at is not None and now >= link.sleep_at:
            link.sleep_at = None
            if link.phase is Phase.REGISTERED and link.queue_mode and not link.asleep:
                link.asleep = True
                self._act(SetReachable(server_id=link.server_id, reachable=False))
        if link.update_at is not None and now >= link.update_at:
            link.update_at = None
            if link.phase is Phase.REGISTERED:
                self._send_update(link, now)

    # ============================================================= AT control
    @property
    def running(self) -> bool:
        return (
            self._awaiting_network
            or self._apn_retry_at is not None
            or any(
                link.phase in ACTIVE_PHASES or link.retry_at is not None
                for link in self._links.values()
            )
        )

    def stat(self) -> LwM2MStatus:
        """``AT+QLWSTAT?``: 0 not registered, 1 registering, 2 registered, 3 deregistering,
        4 login failed."""
        # Runs after every input (``_settle``): one pass over the links, identity tests only.
        registered = registering = failed = False
        for link in self._links.values():
            phase = link.phase
            if phase is Phase.DEREGISTERING:
                return STAT_DEREGISTERING
            if phase is Phase.REGISTERED or phase is Phase.UPDATING:
                registered = True
            elif phase is Phase.FAILED:
                failed = True
            elif phase is not Phase.IDLE:  # the other ACTIVE_PHASES: on the way to a server
                registering = True
        if registered:
            return STAT_REGISTERED
        if registering or self._awaiting_network or self._apn_retry_at is not None:
            return STAT_REGISTERING
        if failed or self._pdp_failed:
            return STAT_LOGIN_FAILED
        return STAT_NOT_REGISTERED

    def endpoint_name(self) -> str:
        """The endpoint name for ``"epname/mode"`` (QuecOpen's endpoint-name modes: 3 urn:imei, 6
        urn:imei-msisdn, 7 urn:imei-imsi; custom mode: ``"epname"``, or the IMEI if unset)."""
        ident = self.module.identity
        template = self.settings.epname_modes.get(self.config.epname_mode, "urn:imei:{imei}")
        return template.format(
            imei=ident.imei,
            imsi=ident.imsi,
            msisdn="".join(c for c in ident.msisdn if c.isdigit()),
            epname=self.config.epname or ident.imei,
        )

    def update_delay(self, lifetime: float) -> float:
        """How long after a Register or Update the next Update goes out.

        The client must update before its lifetime runs out (OMA LwM2M TS 1.0 §5.3.1/§5.3.2:
        the server removes a registration whose lifetime passed without an Update), so the
        Update is due ``update_margin`` before that (half the lifetime, if that is shorter).
        ``update_spread`` moves it earlier by a share of that spread derived from the endpoint
        name (CRC-32, so the same on every run): thousands of modules that registered in the
        same second then update over the spread, not in the same second.
        """
        timing = self.settings.timing
        due = max(lifetime - min(timing.update_margin, lifetime / 2), 0.5)
        if self._spread_share[0] != self.endpoint:  # the same for every Update of a run
            self._spread_share = (self.endpoint, zlib.crc32(self.endpoint.encode()) / 2**32)
        return due - min(timing.update_spread, due / 2) * self._spread_share[1]

    def start(self, now: float, *, automatic: bool = False) -> None:
        """``AT+QLWREG``: OK at once, the outcome comes as URCs. ``automatic`` (startup after
        boot) waits for the network instead of failing without it."""
        self._now = now
        try:
            if self._retry_now(now):
                return
            if self.running:
                raise ClientStateError("the LwM2M client is already running")
            accounts = self._accounts()
            if not accounts:
                raise ClientStateError("no LwM2M server is configured")
            objects.install_accounts(self.store, self.config, self.settings)
            self.endpoint = self.endpoint_name()
            self._pdp_failed = False
            self._links = {entry.server_id: self._new_link(entry) for entry in accounts}
            if automatic and not self.module.radio.registered:
                self._awaiting_network = True
                return
            self._apn_retries_left = self.config.apnretry[1] if self.config.apnretry[0] else 0
            self._bring_up(now)
        finally:
            self._settle()

    def _retry_now(self, now: float) -> bool:
        """``AT+QLWREG`` while every link only waits for its next login attempt: try now."""
        links = list(self._links.values())
        if (
            not links
            or not self._network_up
            or not all(li.phase is Phase.FAILED and li.retry_at is not None for li in links)
        ):
            return False
        for link in links:
            link.retry_at = None
            self._connect(link, link.goal, now)
        return True

    def _accounts(self) -> list[SecurityEntry]:
        """The servers to work with: the DM servers, or the bootstrap server if there is none."""
        dm = [e for e in self.config.security.values() if not e.bootstrap]
        if dm:
            return sorted(dm, key=lambda e: e.server_id)
        return [e for e in self.config.security.values() if e.bootstrap]

    def _new_link(self, entry: SecurityEntry) -> ServerLink:
        server = (
            None if entry.bootstrap else self.config.server_entry(entry.server_id, self.settings)
        )
        return ServerLink(
            security=entry,
            server=server,
            uri=entry.uri(),
            goal=Goal.BOOTSTRAP if entry.bootstrap else Goal.REGISTER,
        )

    def stop(self, now: float) -> None:
        """``AT+QLWDEREG``: deregister from every server (each reports ``"deregister"``)."""
        self._now = now
        try:
            if not self.running:
                raise ClientStateError("the LwM2M client is not running")
            self._awaiting_network = False
            self._apn_retry_at = None
            for link in list(self._links.values()):
                self._deregister(link, now)
        finally:
            self._settle()

    def _deregister(self, link: ServerLink, now: float) -> None:
        link.clear_timers()
        if link.phase in (Phase.REGISTERED, Phase.UPDATING) and link.session_open:
            self._forget_requests(link)
            link.go(Phase.DEREGISTERING)
            self.observations.cancel_all(short_server_id=link.ssid)  # none after the DELETE
            if link.asleep:
                link.asleep = False
                self._act(SetReachable(server_id=link.server_id, reachable=True))
            self._send(link, "deregister", CoapRequest(method=DELETE, path=link.location))
            return
        if link.phase in (Phase.IDLE, Phase.DEREGISTERING) or (
            link.phase is Phase.FAILED and link.retry_at is None
        ):
            return
        # Nothing to delete on a server we never reached: the abort itself succeeded; a
        # registration stranded by a lost network could not be deleted.
        stranded = link.phase is Phase.SUSPENDED and bool(link.location)
        self._drop_session(link)
        link.go(Phase.IDLE)
        self._server_result(NoticeKind.DEREGISTER, link, ok=not stranded)

    def update(self, ssid: int | None, now: float) -> None:
        """``AT+QLWUPDATE[=<SSID>]``: an Update to one registered server, or to all."""
        self._now = now
        try:
            targets = [
                link
                for link in self._links.values()
                if link.phase in (Phase.REGISTERED, Phase.UPDATING)
                and (ssid is None or link.ssid == ssid)
            ]
            if not targets:
                raise ClientStateError(
                    "not registered" if ssid is None else f"not registered with server {ssid}"
                )
            for link in targets:
                self._request_update(link, now)
        finally:
            self._settle()

    # ---------------------------------------------------------- configuration
    def _require_idle(self, what: str) -> None:
        if self.running:
            raise ClientStateError(f"{what} cannot change while the client runs")

    def set_security(self, entry: SecurityEntry) -> None:
        self._require_idle("security")
        entry.check()
        self.config.security[entry.server_id] = entry
        self.save()

    def clear_security(self, server_id: int) -> None:
        self._require_idle("security")
        self.config.security.pop(server_id, None)
        self.save()

    def set_server(self, entry: ServerEntry, now: float) -> None:
        """``"server"``: allowed while registered; a new lifetime or binding is sent at once."""
        self._now = now
        if entry.binding not in self.settings.bindings:
            raise ConfigError(f"binding {entry.binding!r} is not supported")
        old = self.config.servers.get(entry.server_id)
        self.config.servers[entry.server_id] = entry
        self.save()
        link = self._links.get(entry.server_id)
        if link is not None and link.server is not None:
            link.server = entry
            self._sync_server_object(link)
            if old is None or old.lifetime != entry.lifetime:
                link.send_lifetime = True
            if old is None or old.binding != entry.binding:
                link.send_binding = True
            if (link.send_lifetime or link.send_binding) and link.phase in (
                Phase.REGISTERED,
                Phase.UPDATING,
            ):
                self._request_update(link, now)
        self._settle()

    def clear_server(self, server_id: int) -> None:
        self._require_idle("server")
        self.config.servers.pop(server_id, None)
        self.save()

    def set_options(self, **values: Any) -> None:
        """Module-wide settings (``"epname/mode"``, ``"urc"``, ``"fota"``, ...)."""
        if "epname_mode" in values or "epname" in values:
            self._require_idle("the endpoint name")
        self.config = replace(self.config, **values)
        self.save()

    def reset_config(self) -> None:
        """``"reset"``: back to factory configuration (QuecOpen ``ql_m2m_client_reset``)."""
        self._require_idle("the configuration")
        self.config = ClientConfig.factory(self.settings)
        self.save()
        objects.install_accounts(self.store, self.config, self.settings)

    # ========================================================= module events
    #: The module events the client follows (its adapter is routed these and ClientWork);
    #: any other, its own notices included, changes nothing here.
    MODULE_EVENTS: ClassVar[tuple[type[ModuleEvent], ...]] = (
        RebootStarted,
        PoweredDown,
        BootCompleted,
        RegistrationChanged,
        PdpContextChanged,
        SignalChanged,
    )

    def on_module_event(self, event: ModuleEvent, now: float) -> None:
        if not isinstance(event, self.MODULE_EVENTS):
            return
        self._now = now
        if isinstance(event, RebootStarted | PoweredDown):
            self._restart(now)  # AT+QPOWD: the power goes as in a reboot, nothing is sent
            return
        if isinstance(event, BootCompleted):
            if self._register_at_boot and self._accounts() and not self.running:
                try:
                    self.start(now, automatic=True)
                except (ClientStateError, CmeError) as exc:
                    log.warning("startup registration not started: %s", exc)
        elif isinstance(event, RegistrationChanged):
            if event.registered:
                self._network_back(now)
            else:
                self._network_lost(now)
        elif isinstance(event, PdpContextChanged):
            if event.cid == self.settings.pdp_cid and not event.active:
                self._network_lost(now)
        elif isinstance(event, SignalChanged):
            self.observations.on_change((LwM2MPath(4, 0, 2), LwM2MPath(4, 0, 3)), now)
        self._settle()

    def _restart(self, now: float) -> None:
        """The module goes down: no Deregister (power is gone), everything starts over."""
        self._actions.clear()
        self._act(ResetTransport())
        self._links.clear()
        self._requests.clear()
        self._deferred.clear()
        self._scheduled.clear()  # the module dropped its timers
        self._awaiting_network = self._network_up = self._pdp_failed = False
        self._apn_retry_at = None
        self._power_on()
        self._work_posted = False
        self._settle()

    def _network_lost(self, now: float) -> None:
        self._network_up = False
        for link in self._links.values():
            if link.phase in (Phase.IDLE, Phase.FAILED, Phase.SUSPENDED) or (
                link.phase is Phase.WAITING
            ):
                continue
            if link.phase is Phase.DEREGISTERING:
                self._drop_session(link)
                link.go(Phase.IDLE)
                self._server_result(NoticeKind.DEREGISTER, link, ok=False)
                continue
            self._drop_session(link)
            link.clear_timers()
            link.go(Phase.SUSPENDED)
            self._awaiting_network = True
        if self._awaiting_network and self.module.radio.registered:
            # Only the context went down (e.g. AT+CGACT=0): bring it up again shortly.
            self._later(self.settings.timing.pdp_reactivate, self._network_back)

    def _network_back(self, now: float) -> None:
        if self._awaiting_network and self.module.radio.registered:
            self._bring_up(now)

    # ============================================================== bring-up
    def _bring_up(self, now: float) -> None:
        """Activate the PDP context ("pdp active"), then connect each waiting link."""
        self._awaiting_network = False
        cid = self.settings.pdp_cid
        context = self.module.radio.contexts.get(cid)
        apn = context.apn if context is not None else ""
        try:
            self.module.activate_pdp(cid, now)
        except CmeError as exc:
            log.info("PDP activation for LwM2M failed: %s", exc)
            if self._apn_retries_left > 0:
                # "apnretry" (QuecOpen's setting): try again after <off_period> before giving up.
                self._apn_retries_left -= 1
                self._apn_retry_at = now + max(self.config.apnretry[2], 1)
                return
            self._notify(PdpResult(outcome=Outcome.FAILURE, apn=apn))
            self._pdp_failed = True  # login failed (stat 4) until the next AT+QLWREG
            self._links.clear()
            return
        self._network_up = True
        self._notify(PdpResult(outcome=Outcome.SUCCESS, apn=apn))
        for link in self._links.values():
            if link.phase in (Phase.IDLE, Phase.SUSPENDED):
                goal = link.goal
                if link.location and now < link.registered_until:
                    goal = Goal.UPDATE  # the registration outlived the outage
                elif goal is Goal.UPDATE:
                    goal = Goal.REGISTER
                self._connect(link, goal, now)

    def _connect(self, link: ServerLink, goal: Goal, now: float) -> None:
        link.goal = goal
        link.attempt += 1
        link.clear_timers()
        link.go(Phase.PREPARING)
        uri = link.uri
        self._act(
            PrepareSession(
                server_id=link.server_id,
                attempt=link.attempt,
                scheme=uri.scheme,
                host=uri.host,
                port=uri.port,
            )
        )

    def _current(self, server_id: int, attempt: int, phase: Phase) -> ServerLink | None:
        link = self._links.get(server_id)
        if link is None or link.attempt != attempt or link.phase is not phase:
            return None
        return link

    def session_prepared(
        self, server_id: int, attempt: int, now: float, *, error: str | None = None
    ) -> None:
        """Adapter: the address resolved and the socket is ready (or not: ``error``)."""
        self._now = now
        link = self._current(server_id, attempt, Phase.PREPARING)
        if link is not None:
            self._server_result(NoticeKind.INITIAL, link, ok=error is None)
            if error is not None:
                log.info("server %s: %s", link.ssid, error)
                self._fail(link, now)
            else:
                link.session_open = True
                if link.uri.secure and link.security.mode == MODE_PSK:
                    link.go(Phase.HANDSHAKING)
                    self._act(
                        Handshake(
                            server_id=link.server_id,
                            attempt=link.attempt,
                            identity=link.security.psk_identity.encode("utf-8"),
                            key=link.security.key_bytes,
                            timeout=self.settings.timing.dtls_handshake_timeout,
                        )
                    )
                else:
                    self._connected(link, now)
        self._settle()

    def handshake_done(
        self, server_id: int, attempt: int, now: float, *, error: str | None = None
    ) -> None:
        """Adapter: the DTLS handshake finished (or failed / timed out: ``error``)."""
        self._now = now
        link = self._current(server_id, attempt, Phase.HANDSHAKING)
        if link is not None:
            self._server_result(NoticeKind.DTLS, link, ok=error is None)
            if error is not None:
                log.info("server %s: DTLS failed: %s", link.ssid, error)
                self._fail(link, now)
            else:
                self._connected(link, now)
        self._settle()

    def _connected(self, link: ServerLink, now: float) -> None:
        if link.goal is Goal.BOOTSTRAP:
            self._notify(StepStarted(kind=NoticeKind.BOOTSTRAPPING))
            link.go(Phase.BOOTSTRAPPING)
            link.deadline = now + self.settings.timing.bootstrap_timeout
            query = [f"ep={self.endpoint}"]
            if self.settings.lwm2m_version != "1.0":
                query.append(f"pct={self.settings.preferred_format}")
            self._send(
                link, "bootstrap", CoapRequest(method=POST, path=("bs",), query=tuple(query))
            )
        elif link.goal is Goal.UPDATE:
            link.go(Phase.UPDATING)
            self._send_update(link, now)
        else:
            self._register(link, now)

    # ========================================================== registration
    def _register(self, link: ServerLink, now: float) -> None:
        """Register (TS 1.0 §5.3.1, §8.2.3): ``POST /rd?ep=&lt=&lwm2m=&b=`` + object links."""
        assert link.server is not None
        self._notify(StepStarted(kind=NoticeKind.REGISTERING))
        link.go(Phase.REGISTERING)
        if link.location:
            # A new registration voids the old one's observations (the server forgets them
            # too); the server observes again once it sees the Register.
            self.observations.cancel_all(short_server_id=link.ssid)
        link.location = ()
        link.send_lifetime = link.send_binding = link.send_objects = False
        version = self.settings.lwm2m_version
        query = [
            f"lwm2m={version}",
            f"ep={self.endpoint}",
            *self._binding_query(link),
            f"lt={link.server.lifetime}",
        ]
        self._send(
            link,
            "register",
            CoapRequest(
                method=POST,
                path=("rd",),
                query=tuple(query),
                payload=self._object_links().encode("utf-8"),
                content_format=40,
            ),
        )

    def _binding_query(self, link: ServerLink) -> list[str]:
        assert link.server is not None
        binding = link.server.binding
        if self.settings.lwm2m_version == "1.0":
            return [f"b={binding}"]
        # TS 1.1 §5.3.1: the binding has no Q any more; queue mode is its own "Q" parameter.
        query = [f"b={binding.replace('Q', '')}"]
        return [*query, "Q"] if "Q" in binding else query

    def _object_links(self) -> str:
        versions = {}
        if self.settings.lwm2m_version != "1.0":
            for definition in self.store.definitions:
                if definition.version != "1.0" and definition.id in self.settings.objects:
                    versions[definition.id] = definition.version
        instances = {
            oid: ids
            for oid, ids in self.store.instance_ids().items()
            if oid in self.settings.objects
        }
        return build_register_payload(
            instances,
            content_format=self.settings.register_content_format,
            versions=versions,
        )

    def _request_update(self, link: ServerLink, now: float) -> None:
        """An Update now, or right after the one in flight."""
        if link.phase is Phase.REGISTERED:
            self._send_update(link, now)
        elif link.phase in (Phase.UPDATING, Phase.REGISTERING):
            link.update_again = True

    def _send_update(self, link: ServerLink, now: float) -> None:
        """Update (TS 1.0 §5.3.2): ``POST <location>[?lt=..&b=..]`` [+ object links]."""
        assert link.server is not None
        link.update_again = False
        if link.asleep:
            link.asleep = False
            self._act(SetReachable(server_id=link.server_id, reachable=True))
        link.go(Phase.UPDATING)
        link.update_at = None
        if not (link.send_lifetime or link.send_binding or link.send_objects):
            # The periodic Update: nothing but the location, the same request every time
            # until a new Register moves the location.
            if link.plain_update is None or link.plain_update.path != link.location:
                link.plain_update = CoapRequest(method=POST, path=link.location)
            self._send(link, "update", link.plain_update)
            return
        query: list[str] = []
        if link.send_lifetime:
            query.append(f"lt={link.server.lifetime}")
        if link.send_binding:
            query.extend(self._binding_query(link))
        payload = self._object_links().encode("utf-8") if link.send_objects else b""
        self._send(
            link,
            "update",
            CoapRequest(
                method=POST,
                path=link.location,
                query=tuple(query),
                payload=payload,
                content_format=40 if payload else None,
            ),
        )

    def _send(self, link: ServerLink, kind: str, request: CoapRequest) -> None:
        request_id = next(self._request_ids)
        self._requests[request_id] = (link.server_id, kind)
        self._act(
            SendRequest(
                request_id=request_id,
                server_id=link.server_id,
                request=request,
                timeout=self._response_timeout,
            )
        )

    def _forget_requests(self, link: ServerLink) -> None:
        for request_id in [r for r, (s, _) in self._requests.items() if s == link.server_id]:
            del self._requests[request_id]

    def _registered(self, link: ServerLink, now: float) -> None:
        assert link.server is not None
        lifetime = link.server.lifetime
        link.go(Phase.REGISTERED)
        link.failures, link.failures_since = 0, None
        link.registered_until = now + lifetime
        link.update_at = now + self.update_delay(lifetime)
        link.retry_at = None
        if link.queue_mode:
            link.sleep_at = now + self.settings.timing.queue_awake
        held, link.held = link.held, []
        self._actions.extend(held)
        if link.update_again:
            self._send_update(link, now)

    def response_received(self, request_id: int, response: CoapResponse, now: float) -> None:
        """Adapter: the server answered one of our requests."""
        self._now = now
        pending = self._requests.pop(request_id, None)
        link = self._links.get(pending[0]) if pending else None
        if pending is not None and link is not None:
            kind = pending[1]
            if kind == "register" and link.phase is Phase.REGISTERING:
                if response.code == CREATED and response.location_path:
                    link.location = response.location_path
                    self._server_result(NoticeKind.READY, link, ok=True)
                    self._registered(link, now)
                else:
                    log.info("server %s refused Register: %s", link.ssid, response)
                    self._server_result(NoticeKind.READY, link, ok=False)
                    self._fail(link, now)
            elif kind == "update" and link.phase is Phase.UPDATING:
                if response.code == CHANGED:
                    link.send_lifetime = link.send_binding = link.send_objects = False
                    self._server_result(NoticeKind.UPDATE, link, ok=True)
                    self._registered(link, now)
                elif response.code >> 5 == 4:
                    # TS 1.0 §5.3.2: the server does not know the registration: register anew.
                    self._server_result(NoticeKind.UPDATE, link, ok=False)
                    self._register(link, now)
                else:
                    self._update_lost(link, now)
            elif kind == "deregister" and link.phase is Phase.DEREGISTERING:
                self._deregistered(link, ok=response.code == DELETED, now=now)
            elif (
                kind == "bootstrap"
                and link.phase is Phase.BOOTSTRAPPING
                and not is_success(response.code)
            ):
                self._server_result(NoticeKind.BOOTSTRAP, link, ok=False)
                self._fail(link, now)
        self._settle()

    def request_failed(self, request_id: int, reason: str, now: float) -> None:
        """Adapter: no answer (RFC 7252 retransmissions exhausted), or the network refused."""
        self._now = now
        pending = self._requests.pop(request_id, None)
        link = self._links.get(pending[0]) if pending else None
        if pending is not None and link is not None:
            kind = pending[1]
            log.info("server %s: %s failed: %s", link.ssid, kind, reason)
            if kind == "register" and link.phase is Phase.REGISTERING:
                self._server_result(NoticeKind.READY, link, ok=False)
                self._fail(link, now)
            elif kind == "update" and link.phase is Phase.UPDATING:
                self._update_lost(link, now)
            elif kind == "deregister" and link.phase is Phase.DEREGISTERING:
                self._deregistered(link, ok=False, now=now)
            elif kind == "bootstrap" and link.phase is Phase.BOOTSTRAPPING:
                self._server_result(NoticeKind.BOOTSTRAP, link, ok=False)
                self._fail(link, now)
        self._settle()

    def _update_lost(self, link: ServerLink, now: float) -> None:
        """The server is gone (an Update unanswered, or answered 5.xx): the registration is
        lost; register afresh after the reconnection back-off (see :meth:`_retry_later`)."""
        assert link.server is not None
        self._server_result(NoticeKind.UPDATE, link, ok=False)
        self._drop_session(link)
        link.clear_timers()
        link.go(Phase.FAILED)
        link.location = ()
        link.goal = Goal.REGISTER
        self.observations.cancel_all(short_server_id=link.ssid)  # they died with the registration
        self._retry_later(link, now)

    def _deregistered(self, link: ServerLink, *, ok: bool, now: float) -> None:
        self._server_result(NoticeKind.DEREGISTER, link, ok=ok)
        self._drop_session(link)
        link.location = ()
        if link.retry_at is not None:  # Disable: come back after the Disable Timeout
            link.go(Phase.WAITING)
            link.goal = Goal.REGISTER
        else:
            link.go(Phase.IDLE)
        self.observations.cancel_all(short_server_id=link.ssid)

    def _fail(self, link: ServerLink, now: float) -> None:
        """Login failed (stat 4 until the next attempt starts); a retry follows the back-off."""
        self._drop_session(link)
        link.clear_timers()
        link.go(Phase.FAILED)
        self._retry_later(link, now)

    def _retry_later(self, link: ServerLink, now: float) -> None:
        """Schedule the next login after a failure (our reading of ``"maxreconntime"``
        <first>,<max>,<total>, whose fields Quectel does not describe [inferred]): wait <first>
        seconds, doubling after each failure, never longer than <max> nor than the server's
        Disable Timeout ("time interval before the next connection after disconnection",
        QuecPython document); give up (stat 4 for good) once <total> seconds have passed since
        the first failure of the run, never when <total> is 0 (the factory value)."""
        first, longest, total = self.config.maxreconntime
        if link.failures_since is None:
            link.failures_since = now
        link.failures += 1
        wait = min(first * 2 ** min(link.failures - 1, 20), longest)
        if link.server is not None:
            wait = min(wait, link.server.disable_timeout)
        if total == 0 or now + wait <= link.failures_since + total:
            link.retry_at = now + wait
        else:
            log.info(
                "server %s: no more login attempts (maxreconntime %ss spent)", link.ssid, total
            )

    def _drop_session(self, link: ServerLink) -> None:
        self._forget_requests(link)
        if link.session_open or link.phase in (Phase.PREPARING, Phase.HANDSHAKING):
            self._act(CloseSession(server_id=link.server_id))
        link.session_open = False
        link.asleep = False
        link.held.clear()

    # ============================================================= requests
    def handle_request(
        self, server_id: int | None, request: CoapRequest, now: float
    ) -> CoapResponse:
        """Adapter: a request from the server on ``server_id``'s session (None: from a peer
        that is none of our servers). Always returns a response."""
        self._now = now
        try:
            link = self._links.get(server_id) if server_id is not None else None
            if link is None or link.phase not in SESSION_PHASES:
                return CoapResponse(code=UNAUTHORIZED, payload=b"not a server of this client")
            if link.queue_mode and link.sleep_at is not None:
                link.sleep_at = max(link.sleep_at, now + self.settings.timing.queue_awake)
            if link.phase is Phase.BOOTSTRAPPING:
                bootstrap_instance = link.server_id
                return self.operations.bootstrap(
                    request,
                    bootstrap_instance=bootstrap_instance,
                    finish=lambda: self._bootstrap_finish(link, now),
                )
            return self.operations.device_management(request, ssid=link.ssid, now=now)
        finally:
            self._settle()

    def observation_ended(self, token: bytes, now: float) -> None:
        """Adapter: the server lost interest (RST to a notification, RFC 7641 §3.6)."""
        self._now = now
        self.observations.cancel(token)
        self._settle()

    def _pump_notifications(self, now: float) -> None:
        for notification in self.observations.due(now):
            link = next(
                (
                    li
                    for li in self._links.values()
                    if li.ssid == notification.short_server_id and li.server is not None
                ),
                None,
            )
            if link is None or link.phase not in (
                Phase.REGISTERED,
                Phase.UPDATING,
                Phase.REGISTERING,
            ):
                continue  # no session to send on: the server re-observes after registering
            if notification.error is not None:
                response = CoapResponse(code=notification.error.code)
                last = True
            else:
                path = notification.path
                try:
                    fmt = notification.content_format or self.operations.response_format(path, None)
                    payload = self.operations.encode(notification.content, path, fmt)
                except LwM2MError as error:
                    self.observations.cancel(notification.token)
                    response, last = CoapResponse(code=error.code), True
                else:
                    response, last = (
                        CoapResponse(code=0x45, payload=payload, content_format=int(fmt)),
                        False,
                    )
            action = SendNotification(
                server_id=link.server_id, token=notification.token, response=response, last=last
            )
            if link.asleep or link.phase is not Phase.REGISTERED:
                # Queue mode: wake with an Update, then send (TS 1.0 §7.3).
                link.held.append(action)
                if link.asleep:
                    self._send_update(link, now)
            else:
                self._act(action)

    # ======================================================= store events
    def _on_store_event(self, event: StoreEvent) -> None:
        now = self._now
        if isinstance(event, ResourcesWritten) and event.by_server:
            for path in event.paths:
                if path.object_id == objects.SERVER and path.instance_id is not None:
                    self._server_object_written(path.instance_id + 1, path, now)
        elif isinstance(event, InstanceCreated | InstanceDeleted):
            if event.path.object_id not in (objects.SECURITY,) and any(
                li.phase in SESSION_PHASES - {Phase.BOOTSTRAPPING} for li in self._links.values()
            ):
                for link in self._links.values():
                    link.send_objects = True
                    self._later(0.0, functools.partial(self._request_update, link))
        elif (
            isinstance(event, ResourceExecuted)
            and event.path.object_id == objects.SERVER
            and event.path.instance_id is not None
        ):
            self._server_executed(event.path.instance_id + 1, event.path, now)

    def _server_object_written(self, server_id: int, path: LwM2MPath, now: float) -> None:
        """A server wrote its Server object (TS 1.0 E.2): keep the AT configuration in step."""
        link = self._links.get(server_id)
        entry = self.config.servers.get(server_id) or self.config.server_entry(
            server_id, self.settings
        )
        value = self.store.get_value(path) if self.store.has(path) else None
        field = {
            1: "lifetime",
            2: "pmin",
            3: "pmax",
            5: "disable_timeout",
            6: "storing",
            7: "binding",
        }.get(path.resource_id or -1)
        if field is None or not isinstance(value, int | str):
            return
        if field == "binding":
            entry = replace(entry, binding=str(value))
        else:
            numbers: dict[str, Any] = {field: int(value)}  # bool for "storing"
            entry = replace(entry, **numbers)
        self.config.servers[server_id] = entry
        self.save()
        if link is None or link.server is None:
            return
        link.server = entry
        if field == "lifetime":
            self._notify(LifetimeWritten(ssid=link.ssid, lifetime=int(value)))
            link.send_lifetime = True
            self._later(0.0, lambda t: self._request_update(link, t))
        elif field == "binding":
            link.send_binding = True
            self._later(0.0, lambda t: self._request_update(link, t))

    def _server_executed(self, server_id: int, path: LwM2MPath, now: float) -> None:
        link = self._links.get(server_id)
        if link is None or link.server is None:
            return
        if path.resource_id == 8:  # Registration Update Trigger
            self._later(0.0, lambda t: self._request_update(link, t))
        elif path.resource_id == 4:  # Disable (TS 1.0 E.2): deregister, back after the timeout
            disable_timeout = link.server.disable_timeout

            def disable(t: float) -> None:
                if link.phase in (Phase.REGISTERED, Phase.UPDATING):
                    self._deregister(link, t)
                    link.retry_at = t + disable_timeout

            self._later(0.0, disable)

    def _sync_server_object(self, link: ServerLink) -> None:
        """The AT side changed a server line: mirror it into /1 (no server write events)."""
        assert link.server is not None
        base = LwM2MPath(objects.SERVER, objects.server_instance_id(link.server_id))
        if not self.store.has(base):
            return
        for rid, value in objects.server_resources(link.ssid, link.server).items():
            if rid != 0:
                self.store.set_value(base.child(rid), value)

    # ============================================================ bootstrap
    def _bootstrap_finish(self, link: ServerLink, now: float) -> None:
        """Bootstrap-Finish: adopt the accounts the server wrote (raises ``LwM2MError`` →
        4.06 when they are not usable), then register with them once 2.04 is out."""
        accounts = objects.read_bootstrapped(self.store, self.settings)
        for server_id in range(1, 4):
            self.config.security.pop(server_id, None)
            self.config.servers.pop(server_id, None)
        for account in accounts:
            self.config.security[account.security.server_id] = account.security
            self.config.servers[account.server.server_id] = account.server
        self.save()
        link.deadline = None
        self._later(0.0, lambda t: self._bootstrapped(link, t))

    def _bootstrapped(self, link: ServerLink, now: float) -> None:
        if link.phase is not Phase.BOOTSTRAPPING:
            return
        self._server_result(NoticeKind.BOOTSTRAP, link, ok=True)
        self._drop_session(link)
        link.go(Phase.IDLE)
        objects.install_accounts(self.store, self.config, self.settings)
        self._links = {}
        for entry in self._accounts():
            new = self._new_link(entry)
            self._links[entry.server_id] = new
            if not entry.bootstrap:
                self._connect(new, Goal.REGISTER, now)

    # ============================================================= firmware
    def _start_download(self, uri: str) -> None:
        self._act(StartDownload(uri=uri, max_bytes=self.settings.firmware.max_package_bytes))

    def download_finished(
        self, now: float, *, data: bytes | None = None, error: DownloadError | None = None
    ) -> None:
        """Adapter: the package download ended."""
        self._now = now
        self.firmware.download_finished(data, error)
        self._settle()

    def _firmware_changed(self) -> None:
        self.observations.on_change((LwM2MPath(5, 0, 3), LwM2MPath(5, 0, 5)), self._now)

    def _schedule_firmware_apply(self) -> None:
        def apply(now: float) -> None:
            self.firmware.applied()
            self.save()
            self.module.reboot(now, RebootCause.LWM2M_FIRMWARE_UPDATE)

        self._later(self.settings.timing.firmware_apply, apply)
