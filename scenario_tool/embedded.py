"""EmbeddedDriver: the ServerDriver for this project's own embedded LwM2M server.

It runs an :class:`~emulator.adapters.lwm2m_server.LwM2MServer` in-process with all four listeners
(CoAP, CoAP over DTLS-PSK, and the same two for bootstrap) on free loopback ports. Requests go
out through ``LwM2MServer.send`` so the step sees the code the client really answered (not
only "success"); the server's events become :class:`ServerEvent`. ``stop``/``restart`` take
the listeners down and bring them back on the same ports, with the PSKs and bootstrap
configurations kept (as a real server keeps them in its database) and the registrations lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from emulator.adapters.lwm2m_server import LwM2MServer, Observation
from emulator.lwm2m.definitions import ResourceType
from emulator.lwm2m.errors import LwM2MError
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import parse_links
from emulator.lwm2m.model import ObjLink, Value
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry, default_registry
from emulator.server import events as server_events
from emulator.server import operations
from emulator.server.bootstrap import BootstrapConfig as ServerBootstrapConfig
from emulator.server.bootstrap import ServerAccount
from emulator.server.errors import (
    BadDeviceResponse,
    DeviceErrorResponse,
    DeviceTimeout,
    NotRegistered,
    code_text,
)
from emulator.server.registration import Registration as ServerRegistration
from scenario_tool.driver import (
    BootstrapConfig,
    BootstrapEnded,
    Deregistered,
    EventBox,
    Notified,
    Registered,
    Registration,
    Response,
    ServerEvent,
    ServerNote,
    Updated,
)
from scenario_tool.errors import DriverError, StepTimeout
from scenario_tool.values import content_to_tree

log = logging.getLogger(__name__)

FORMATS: Final = {
    "tlv": ContentFormat.TLV,
    "text": ContentFormat.TEXT,
    "json": ContentFormat.LWM2M_JSON,
    "senml_json": ContentFormat.SENML_JSON,
    "cbor": ContentFormat.CBOR,
    "opaque": ContentFormat.OPAQUE,
}


def registration_of(registration: ServerRegistration) -> Registration:
    return Registration(
        endpoint=registration.endpoint,
        registration_id=registration.registration_id,
        lifetime=registration.lifetime,
        binding=registration.binding,
        lwm2m_version=registration.lwm2m_version,
        object_links=tuple(str(link) for link in registration.links),
        secure=registration.secure,
        address=registration.address,
    )


def coerce(value: Any, rtype: ResourceType | None, where: str) -> Value:
    """A scenario's YAML value as the core's Python value for ``rtype`` (values.py table)."""
    try:
        if rtype is None:
            if isinstance(value, bool | int | float | str | bytes):
                return value
        elif rtype in (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.TIME):
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            return int(value)
        elif rtype is ResourceType.FLOAT:
            return float(value)
        elif rtype is ResourceType.BOOLEAN:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true"):
                return True
            if str(value).lower() in ("0", "false"):
                return False
            raise ValueError("not a boolean")
        elif rtype is ResourceType.OPAQUE:
            if isinstance(value, bytes):
                return value
            return bytes.fromhex(str(value).lower().removeprefix("0x"))
        elif rtype is ResourceType.OBJLNK:
            return ObjLink.parse(str(value))
        elif rtype in (ResourceType.STRING, ResourceType.CORELNK):
            return str(value)
    except (ValueError, TypeError) as exc:
        raise DriverError(
            f"{where}: {value!r} is not a {rtype.value if rtype else ''} value: {exc}"
        ) from exc
    raise DriverError(f"{where}: {value!r} cannot be written")


class EmbeddedDriver:
    """Our LwM2M server on ``host`` (loopback by default), free ports."""

    kind = "embedded"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        registry: ObjectRegistry | None = None,
        request_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.registry = registry or default_registry()
        self.request_timeout = request_timeout
        self.server: LwM2MServer | None = None
        self._events = EventBox()
        self._ports: dict[str, int] = {}
        self._psk: dict[str, tuple[str, bytes]] = {}
        self._bootstrap: dict[str, ServerBootstrapConfig] = {}
        self._observations: dict[tuple[str, str], Observation] = {}
        self._pump: asyncio.Task[None] | None = None

    @property
    def events(self) -> EventBox:
        return self._events

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        ports = self._ports
        addresses = {
            name: (self.host, ports.get(name, 0))
            for name in ("coap", "coaps", "bootstrap", "bootstrap_coaps")
        }
        server = await LwM2MServer.start(
            coap=addresses["coap"],
            coaps=addresses["coaps"],
            bootstrap=addresses["bootstrap"],
            bootstrap_coaps=addresses["bootstrap_coaps"],
            registry=self.registry,
            psk=dict(self._psk),
            bootstrap_configs=dict(self._bootstrap),
            request_timeout=self.request_timeout,
        )
        self.server = server
        self._ports = {name: listener.port for name, listener in server.listeners.items()}
        subscription = server.subscribe()

        async def pump() -> None:
            try:
                async for event in subscription:
                    self._on_event(event)
            finally:
                subscription.close()

        self._pump = asyncio.create_task(pump(), name="embedded-server-events")

    async def _halt(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop()
        self._observations.clear()

    async def close(self) -> None:
        await self._halt()

    async def stop(self) -> None:
        if self.server is None:
            raise DriverError("the server is already stopped")
        await self._halt()
        self._events.post(ServerNote(endpoint="", at=self._now(), text="server stopped"))

    async def restart(self) -> None:
        if self.server is not None:
            await self._halt()
        try:
            await self.start()
        except OSError as exc:
            # Someone took a port meanwhile: come back on fresh ones; the runner's relays
            # follow (the module keeps talking to the relay's address).
            log.warning("the old ports are taken (%s); restarting on new ones", exc)
            self._ports = {}
            await self.start()
        self._events.post(
            ServerNote(
                endpoint="",
                at=self._now(),
                text=f"server started again on the same ports {sorted(self._ports.values())}",
            )
        )

    def _running(self) -> LwM2MServer:
        if self.server is None:
            raise DriverError("the server is stopped (a fault step stopped it)")
        return self.server

    def coap_address(self) -> tuple[str, int]:
        return (self.host, self._ports["coap"])

    def coaps_address(self) -> tuple[str, int] | None:
        return (self.host, self._ports["coaps"])

    def bootstrap_address(self, secure: bool = False) -> tuple[str, int] | None:
        return (self.host, self._ports["bootstrap_coaps" if secure else "bootstrap"])

    async def watch(self, endpoint: str) -> None:
        """Nothing to do: every event of the embedded server is seen."""

    # ------------------------------------------------------------------ events
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_event(self, event: server_events.ServerEvent) -> None:
        translate = _TRANSLATIONS.get(type(event))
        if translate is not None:
            self._events.post(translate(event, self._now()))

    # ------------------------------------------------------------------ operations
    def _format(self, endpoint: str, content_format: str | None) -> ContentFormat:
        if content_format is not None:
            return FORMATS[content_format]
        registration = self._running().registration(endpoint)
        if registration is None:
            raise DriverError(f"{endpoint} is not registered at the server")
        return registration.default_format

    async def _send(
        self, endpoint: str, request: operations.DeviceRequest, timeout: float, what: str
    ) -> Any:
        server = self._running()
        try:
            return await server.send(endpoint, request, timeout=timeout)
        except NotRegistered:
            raise DriverError(f"{what}: {endpoint} is not registered at the server") from None
        except DeviceTimeout as exc:
            raise StepTimeout(
                f"{what}: {endpoint} did not answer within {timeout:g} s ({exc})"
            ) from None
        except KeyError:
            # Registered, but the server has no route back (it restarted meanwhile).
            raise DriverError(f"{what}: the server has no way to reach {endpoint}") from None

    async def read(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response:
        target = LwM2MPath.parse(path)
        fmt = self._format(endpoint, content_format)
        answer = await self._send(endpoint, operations.read(target, fmt), timeout, f"read {path}")
        return self._content_response(answer, target, fmt, f"read {path}")

    def _content_response(
        self, answer: Any, target: LwM2MPath, fmt: ContentFormat, what: str
    ) -> Response:
        code = code_text(answer.code)
        if not code.startswith("2."):
            return Response(code=code, error=answer.payload.decode("utf-8", "replace"))
        try:
            content = operations.decode_answer(
                answer.payload, answer.content_format, target, fmt, self.registry
            )
        except (LwM2MError, ValueError) as exc:
            raise DriverError(f"{what}: the answer cannot be decoded: {exc}") from exc
        return Response(code=code, value=content_to_tree(content))

    def _typed(self, path: LwM2MPath, value: Any, value_type: str | None) -> Any:
        """Scenario values turned into the core's types, by the object definitions."""
        if path.level == 2:
            if not isinstance(value, dict):
                raise DriverError(f"write {path}: an instance takes a mapping resource id -> value")
            return {
                int(rid): self._typed(path.child(int(rid)), v, value_type)
                for rid, v in value.items()
            }
        definition = self.registry.resource(LwM2MPath.from_ids(path.ids[:3]))
        rtype = (
            ResourceType(value_type) if value_type else (definition.type if definition else None)
        )
        if isinstance(value, dict | list) and path.level == 3:
            items = value.items() if isinstance(value, dict) else enumerate(value)
            return {int(k): coerce(v, rtype, f"write {path}/{k}") for k, v in items}
        return coerce(value, rtype, f"write {path}")

    async def write(
        self,
        endpoint: str,
        path: str,
        value: Any,
        value_type: str | None,
        *,
        content_format: str | None,
        timeout: float,
    ) -> Response:
        target = LwM2MPath.parse(path)
        fmt = self._format(endpoint, content_format)
        typed = self._typed(target, value, value_type)
        try:
            # An instance write is a partial update (POST): only the given resources change.
            request = operations.write(target, typed, fmt, self.registry, replace=target.level != 2)
        except (LwM2MError, ValueError) as exc:
            raise DriverError(f"write {path}: {exc}") from exc
        answer = await self._send(endpoint, request, timeout, f"write {path}")
        return Response(code=code_text(answer.code), error=_diagnostic(answer))

    async def execute(
        self, endpoint: str, path: str, args: str | None, *, timeout: float
    ) -> Response:
        request = operations.execute(LwM2MPath.parse(path), args or b"")
        answer = await self._send(endpoint, request, timeout, f"execute {path}")
        return Response(code=code_text(answer.code), error=_diagnostic(answer))

    async def discover(self, endpoint: str, path: str, *, timeout: float) -> Response:
        request = operations.discover(LwM2MPath.parse(path))
        answer = await self._send(endpoint, request, timeout, f"discover {path}")
        code = code_text(answer.code)
        if not code.startswith("2."):
            return Response(code=code, error=_diagnostic(answer))
        try:
            links = tuple(str(link) for link in parse_links(answer.payload))
        except LwM2MError as exc:
            raise DriverError(f"discover {path}: bad link format: {exc}") from exc
        return Response(code=code, links=links)

    async def observe(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response:
        server = self._running()
        fmt = FORMATS[content_format] if content_format else None
        try:
            observation = await server.observe(endpoint, path, format=fmt, timeout=timeout)
        except NotRegistered:
            raise DriverError(f"observe {path}: {endpoint} is not registered") from None
        except DeviceTimeout as exc:
            raise StepTimeout(f"observe {path}: {exc}") from None
        except DeviceErrorResponse as exc:
            return Response(code=exc.code_text, error=exc.diagnostic)
        except BadDeviceResponse as exc:
            raise DriverError(str(exc)) from None
        self._observations[(endpoint, path)] = observation
        value = content_to_tree(observation.initial) if observation.initial is not None else None
        return Response(code="2.05", value=value)

    async def cancel_observe(self, endpoint: str, path: str, *, timeout: float) -> Response:
        server = self._running()
        try:
            count = await server.cancel_observe(endpoint, path, active=True, timeout=timeout)
        except DeviceTimeout as exc:
            raise StepTimeout(f"cancel observe {path}: {exc}") from None
        self._observations.pop((endpoint, path), None)
        if count == 0:
            raise DriverError(f"cancel observe {path}: no active observation of {endpoint} there")
        return Response(code="2.05")

    async def write_attributes(
        self, endpoint: str, path: str, attributes: Mapping[str, float], *, timeout: float
    ) -> Response:
        try:
            request = operations.write_attributes(LwM2MPath.parse(path), dict(attributes))
        except (LwM2MError, ValueError) as exc:
            raise DriverError(f"write attributes {path}: {exc}") from exc
        answer = await self._send(endpoint, request, timeout, f"write attributes {path}")
        return Response(code=code_text(answer.code), error=_diagnostic(answer))

    # ------------------------------------------------------------------ configuration
    async def set_psk(self, endpoint: str, identity: str, key: bytes) -> None:
        self._psk[endpoint] = (identity, key)
        if self.server is not None:
            self.server.set_psk(endpoint, identity, key)

    async def configure_bootstrap(self, endpoint: str, config: BootstrapConfig) -> None:
        psk = config.security == "psk"
        try:
            account = ServerAccount(
                uri=config.server_uri,
                short_server_id=config.short_id,
                psk_identity=config.identity if psk else None,
                psk_key=config.key if psk else None,
                lifetime=config.lifetime,
                binding=config.binding,
            )
            server_config = ServerBootstrapConfig(servers=(account,))
        except ValueError as exc:
            raise DriverError(f"bootstrap configuration of {endpoint}: {exc}") from exc
        self._bootstrap[endpoint] = server_config
        if self.server is not None:
            self.server.set_bootstrap_config(endpoint, server_config)


# The server's events as the scenario's (driver.ServerEvent), one line each.
def _note(text: Callable[[Any], str]) -> Callable[[Any, float], ServerEvent]:
    return lambda e, at: ServerNote(endpoint=e.endpoint, at=at, text=text(e))


def _notified(e: server_events.Notification, at: float) -> ServerEvent:
    value = content_to_tree(e.content) if e.content is not None else None
    return Notified(endpoint=e.endpoint, at=at, path=str(e.path), value=value, error=e.error or "")


_TRANSLATIONS: Final[Mapping[type, Callable[[Any, float], ServerEvent]]] = {
    server_events.Registered: lambda e, at: Registered(
        endpoint=e.endpoint, at=at, registration=registration_of(e.registration)
    ),
    server_events.Updated: lambda e, at: Updated(
        endpoint=e.endpoint, at=at, registration=registration_of(e.registration)
    ),
    server_events.Deregistered: lambda e, at: Deregistered(
        endpoint=e.endpoint, at=at, registration=registration_of(e.registration)
    ),
    server_events.Expired: lambda e, at: Deregistered(
        endpoint=e.endpoint, at=at, registration=registration_of(e.registration), expired=True
    ),
    server_events.Notification: _notified,
    server_events.BootstrapFinished: lambda e, at: BootstrapEnded(endpoint=e.endpoint, at=at),
    server_events.BootstrapFailed: lambda e, at: BootstrapEnded(
        endpoint=e.endpoint, at=at, ok=False, detail=e.reason
    ),
    server_events.ObservationEnded: _note(lambda e: f"observation of {e.path} ended: {e.reason}"),
    server_events.BootstrapRequested: _note(lambda e: f"BOOTSTRAP-REQUEST ep={e.endpoint}"),
    server_events.Awake: _note(lambda e: "AWAKE"),
    server_events.Sleeping: _note(lambda e: "SLEEPING"),
}


def _diagnostic(answer: Any) -> str:
    if code_text(answer.code).startswith("2."):
        return ""
    return bytes(answer.payload).decode("utf-8", "replace")
