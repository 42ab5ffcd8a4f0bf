"""The aiocoap glue of the embedded server: listeners in, exchanges out.

:class:`CoapGlue` owns one aiocoap context for the LwM2M server listeners (plain CoAP and/or
DTLS-PSK) and, if asked, a second one for a dedicated bootstrap listener. A single
path-capable root resource per context hands every client request (``/rd``, ``/rd/{id}``,
``/bs``) to :meth:`ServerCore.handle_request` and returns its answer. The core's actions
(:mod:`emulator.server.messages`: ``SendRequest``, ``StartObservation``, ``SendCancel``) become
aiocoap exchanges over the context and remote (for DTLS the session) the client last talked
from; what comes back is reported to the core, and then ``after_input`` lets the owner
(:class:`~.server.LwM2MServer`) collect the core's output.
Nothing here decides anything. :mod:`.transport` holds what aiocoap has no public API for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiocoap import Code, Context, Message, resource
from aiocoap import error as coap_error

from emulator.adapters.block1 import Block1Assembly
from emulator.server.core import ServerCore
from emulator.server.credentials import PskClaim
from emulator.server.messages import (
    CancelExchange,
    DeviceResponse,
    IncomingRequest,
    SendCancel,
    SendRequest,
    StartObservation,
)
from emulator.server.operations import DeviceRequest

from .transport import (
    Listener,
    ObservationExchange,
    ServerContext,
    add_dtls_listener,
    add_udp_listener,
    send_with_token,
    start_observation,
)

__all__ = ["CoapGlue"]

log = logging.getLogger("emulator.server")

Address = tuple[str, int]
Exchange = SendRequest | StartObservation | SendCancel


class _RoutineTransportNoise(logging.Filter):
    """Drops two aiocoap warnings that describe normal operation, not problems: a DTLS client
    ending its session with close_notify (alert level 1, code 0, RFC 6347 §4.1.2 / RFC 5246
    §7.2.1) and a late error report while a context shuts down."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message == "Unhandled alert level 1 code 0"
            or message.startswith("Internal shutdown sequence mismatch")
        )


_COAP_LOG = logging.getLogger("emulator.server.coap")

#: The largest Block1 request body reassembled (a Register's object list, a Send); larger
#: ones get 4.13 with Size1 (RFC 7959 §2.9.3) before they take memory.
MAX_REQUEST_BODY = 1024 * 1024
_COAP_LOG.addFilter(_RoutineTransportNoise())


@dataclass(frozen=True, slots=True)
class _Peer:
    """Where a client is reached: the context it talked to and its remote (for DTLS the
    session; holding it keeps the session alive)."""

    context: Context
    remote: Any


class _RootResource(resource.Resource):  # type: ignore[misc]
    """Every request to one context lands here with its whole Uri-Path (a ``Site`` would hand
    children only the path below their prefix)."""

    def __init__(self, glue: CoapGlue, *, serves_registration: bool) -> None:
        super().__init__()
        self._block1 = Block1Assembly(MAX_REQUEST_BODY)  # RFC 7959 §2.9: 4.08 and 4.13
        self._glue = glue
        self._serves_registration = serves_registration
        self.context: Context | None = None

    async def render(self, request: Message) -> Message:
        # Requests that came in blocks, reassembled by aiocoap (the rest: ServerContext).
        return self.answer_now(request)

    def answer_now(self, request: Message) -> Message:
        """The core's answer to a whole request (see :class:`.transport.ServerContext`)."""
        assert self.context is not None
        incoming = IncomingRequest(
            method=int(request.code),
            path=tuple(request.opt.uri_path),
            query=tuple(request.opt.uri_query),
            payload=bytes(request.payload),
            content_format=request.opt.content_format,
            address=str(getattr(request.remote, "hostinfo", request.remote)),
            secure_endpoint=_claimed_endpoint(request.remote),
        )
        glue = self._glue
        answer = glue.core.handle_request(
            incoming,
            _Peer(self.context, request.remote),
            glue.loop.time(),
            registration=self._serves_registration,
        )
        # Requests the core queued now (a bootstrap run) go out from tasks: after this answer.
        glue.after_input()
        message = Message(
            code=Code(answer.code), payload=answer.payload, location_path=answer.location_path
        )
        if answer.max_age is not None:
            message.opt.max_age = answer.max_age
        return message


def _claimed_endpoint(remote: Any) -> str | None:
    """The endpoint of the PSK the remote's DTLS session used (``None`` over plain CoAP)."""
    for claim in getattr(remote, "authenticated_claims", None) or ():
        if isinstance(claim, PskClaim):
            return claim.endpoint
    return None


def _response(message: Message) -> DeviceResponse:
    return DeviceResponse(
        code=int(message.code),
        content_format=message.opt.content_format,
        payload=bytes(message.payload),
        location_path=tuple(message.opt.location_path),
        observe=message.opt.observe,
    )


def _message(request: DeviceRequest, peer: _Peer) -> Message:
    message = Message(
        code=Code(request.method),
        uri_path=request.path,
        uri_query=request.query,
        payload=request.payload,
    )
    if request.content_format is not None:
        message.opt.content_format = request.content_format
    if request.accept is not None:
        message.opt.accept = request.accept
    if request.observe is not None:
        message.opt.observe = request.observe
    message.remote = peer.remote
    return message


def _transport_error(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class CoapGlue:
    """The server's listeners and exchanges on aiocoap (see the module docstring)."""

    def __init__(self, core: ServerCore, after_input: Callable[[], None]) -> None:
        self.core = core
        self.after_input = after_input
        self.loop = asyncio.get_running_loop()
        self.listeners: dict[str, Listener] = {}
        self.contexts: list[Context] = []
        self._exchanges: dict[int, asyncio.Task[None] | ObservationExchange] = {}
        self._closed = False

    async def listen(
        self,
        *,
        coap: Address | None,
        coaps: Address | None,
        bootstrap: Address | None,
        bootstrap_coaps: Address | None,
    ) -> None:
        """Bind the listeners (see :meth:`LwM2MServer.start`); DTLS ones are told to the core
        (a bootstrap account pointing there stores its PSK)."""
        for serves_registration, plain, secure, names in (
            (True, coap, coaps, ("coap", "coaps")),
            (False, bootstrap, bootstrap_coaps, ("bootstrap", "bootstrap_coaps")),
        ):
            if plain is None and secure is None:
                continue
            root = _RootResource(self, serves_registration=serves_registration)
            context = ServerContext(
                loop=self.loop, serversite=root, loggername="emulator.server.coap"
            )
            root.context = context
            self.contexts.append(context)
            if plain is not None:
                self.listeners[names[0]] = await add_udp_listener(context, plain)
            if secure is not None:
                listener = await add_dtls_listener(context, secure, self.core.credentials)
                self.listeners[names[1]] = listener
                self.core.dtls_listeners.add((listener.host, listener.port))

    async def close(self) -> None:
        self._closed = True
        for context in self.contexts:
            if context.request_interfaces:  # aiocoap cannot shut down a context without any
                await context.shutdown()
        self.contexts.clear()

    def perform(self, action: Exchange | CancelExchange) -> None:
        """Start an exchange, or stop one (forget an observation's token at once)."""
        if isinstance(action, CancelExchange):
            exchange = self._exchanges.pop(action.exchange, None)
            if isinstance(exchange, ObservationExchange):
                exchange.forget()
            elif exchange is not None:
                exchange.cancel()
        elif not self._closed:
            self._exchanges[action.exchange] = self.loop.create_task(
                self._run(action), name=f"LwM2M server exchange {action.exchange}"
            )

    async def _run(self, action: Exchange) -> None:
        peer = action.peer
        assert isinstance(peer, _Peer)
        message = _message(action.request, peer)
        exchange = action.exchange
        try:
            if isinstance(action, StartObservation):
                observation = await start_observation(
                    peer.context,
                    message,
                    on_response=lambda m: self._report(
                        self.core.response_received, exchange, _response(m)
                    ),
                    on_notification=lambda m: self._report(
                        self.core.notification_received, exchange, _response(m)
                    ),
                    on_end=lambda exc: self._observation_ended(exchange, exc),
                )
                self.core.observation_started(exchange, observation.token)
                if self._exchanges.get(exchange) is asyncio.current_task():
                    self._exchanges[exchange] = observation
                return
            if isinstance(action, SendCancel):
                response = await send_with_token(peer.context, message, action.token)
            else:
                response = await peer.context.request(message).response
        except (coap_error.Error, OSError) as exc:
            self._report(self.core.request_failed, exchange, _transport_error(exc))
        except Exception as exc:  # a bug of ours or aiocoap's: fail the call, keep serving
            log.exception("exchange %d (%s) failed", exchange, action.request.operation)
            self._report(self.core.request_failed, exchange, f"internal error: {exc}")
        else:
            if not isinstance(action, StartObservation):
                self._report(self.core.response_received, exchange, _response(response))
        finally:
            if self._exchanges.get(exchange) is asyncio.current_task():
                del self._exchanges[exchange]

    def _observation_ended(self, exchange: int, exc: BaseException | None) -> None:
        if isinstance(self._exchanges.get(exchange), ObservationExchange):
            del self._exchanges[exchange]
        error = None if exc is None else _transport_error(exc)
        self._report(self.core.observation_ended, exchange, error)

    def _report(self, report: Callable[[int, Any, float], None], exchange: int, what: Any) -> None:
        report(exchange, what, self.loop.time())
        self.after_input()
