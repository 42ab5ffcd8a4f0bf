"""The server's listeners, and what aiocoap has no public API for.

Everything else in :mod:`emulator.adapters.lwm2m_server` uses aiocoap's public API
(``Context.request``, ``Message``, ``resource``). What needs more lives here, so an aiocoap
upgrade breaks exactly one file, which ``tests/server/test_aiocoap_internals.py`` checks loudly:

1. **Listeners on their own addresses.** ``create_server_context`` binds every transport to
   one address; we run a UDP and a DTLS listener on separate addresses in one context, each
   behind aiocoap's message and token managers
   (:func:`emulator.adapters.dtls.coap.append_message_interface`). The DTLS listener is our own
   message interface on Mbed TLS (:class:`emulator.adapters.dtls.coap.DtlsServerInterface`);
   it sends the server's requests (Read, Write, Observe ...) over the session the device opened
   (OMA LwM2M TS 1.0 §7.1), which aiocoap's own DTLS server transport cannot.
2. **Observations we can cancel.** aiocoap's client observation cannot be cancelled on the wire
   (it forgets the token only after the next notification, and it has no active cancel).
   :func:`start_observation` drives the request pipe itself, so a passive cancel forgets the
   token at once (the client's next confirmable notification gets an RST, RFC 7641 §3.6) and an
   active cancel can reuse the observation's token for the GET with Observe=1.
3. **Answers on the spot.** aiocoap renders every request in a task of its own, named after
   the request's repr (which formats the remote's address through ``ipaddress``), behind an
   error-catching pipe and a Block2 cache; with the address parsed again for ``hostinfo`` that
   was over half of the server's CPU in a registration storm. :class:`ServerContext` lets its
   site answer a request without Block1/Block2 options at once (and the guard's
   :class:`~emulator.adapters.undecodable.UdpRemote` works each address's text out once).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiocoap import Code, Context, Message
from aiocoap.pipe import Pipe, error_to_message, run_driving_pipe

from emulator.adapters.dedup import bound_duplicate_detection
from emulator.adapters.dtls.coap import DtlsServerInterface, PskLookup, append_message_interface
from emulator.adapters.udpbind import bind_udp6, udp6_interface, widen_receive_buffer
from emulator.adapters.undecodable import JunkReport, guard_udp_interface

_LOG = logging.getLogger("emulator.server")

__all__ = [
    "Listener",
    "ObservationExchange",
    "PskLookup",
    "ServerContext",
    "add_dtls_listener",
    "add_udp_listener",
    "start_observation",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """A bound listener: its scheme and the address the OS gave it, and (plain CoAP) the
    count of datagrams it dropped or reset as undecodable."""

    scheme: str
    host: str
    port: int
    junk: JunkReport | None = field(default=None, compare=False)


def ensure_port_free(bind: tuple[str, int]) -> None:
    """Raise ``OSError`` if a fixed UDP port is taken, saying which address (before the DTLS
    listener's socket is made, whose own error would not say)."""
    host, port = bind
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()


async def add_dtls_listener(
    context: Context, bind: tuple[str, int], credentials: PskLookup
) -> Listener:
    """Add a DTLS-PSK listener on ``bind`` to ``context``; ``credentials`` is asked for each
    handshake's identity (changes apply to the next handshake)."""
    ensure_port_free(bind)
    interface = await DtlsServerInterface.create(context, bind, credentials)
    host, port = interface.sockname
    return Listener(scheme="coaps", host=host, port=port)


async def add_udp_listener(context: Context, bind: tuple[str, int]) -> Listener:
    """Add a plain CoAP (UDP) listener on ``bind`` to ``context``: on a socket of its own
    (:mod:`emulator.adapters.udpbind`: aiocoap's binding would let another socket share it)."""
    sock = await bind_udp6(*bind)
    created: list[Any] = []

    async def construct(message_manager: Any) -> Any:
        bound_duplicate_detection(message_manager)  # a request flood costs bounded memory
        transport = await udp6_interface(sock, message_manager, context)
        created.append(transport)
        return transport

    await append_message_interface(context, construct)
    widen_receive_buffer(sock)
    host, port, *_ = sock.getsockname()
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]  # udp6 binds IPv4 addresses as IPv4-mapped IPv6
    junk = JunkReport(_LOG, f"coap listener {host}:{port}")
    guard_udp_interface(created[0], junk)
    return Listener(scheme="coap", host=str(host), port=int(port), junk=junk)


class ServerContext(Context):  # type: ignore[misc]  # aiocoap is untyped
    """A context whose server site may answer a request at once.

    A site with an ``answer_now(request) -> Message`` method gets every request without
    Block1/Block2 options there, synchronously, and its answer goes straight back into the
    request's pipe (what aiocoap's ``Resource`` does too, minus the task, the repr and the
    cache). A bug in it is answered 5.00, as aiocoap answers one; an answer too large for one
    message still goes out through the site's Block2 cache (RFC 7959 §2.2). Requests with
    block options take aiocoap's own way (reassembly in the site's ``_block1``, then
    ``render``).
    """

    def render_to_pipe(self, pipe: Pipe) -> None:
        request = pipe.request
        site = self.serversite
        answer_now = getattr(site, "answer_now", None)
        if answer_now is None or request.opt.block1 is not None or request.opt.block2 is not None:
            super().render_to_pipe(pipe)
            return
        try:
            response = answer_now(request)
        except Exception:  # a bug of ours: answer it as aiocoap would, keep serving
            self.log.exception("answering a %s request failed", request.code)
            response = Message(code=Code.INTERNAL_SERVER_ERROR)
        if len(response.payload) > request.remote.maximum_payload_size:
            run_driving_pipe(
                error_to_message(pipe, self.log),
                _in_blocks(site, pipe, response),
                name="LwM2M server: a large answer in blocks",
            )
            return
        pipe.add_response(response, is_last=True)


async def _in_blocks(site: Any, pipe: Pipe, response: Message) -> None:
    async def built() -> Message:
        return response

    pipe.add_response(await site._block2.extract_or_insert(pipe.request, built), is_last=True)


class ObservationExchange:
    """An outgoing GET with Observe=0 and everything that comes back on its token, in order.

    The first response goes to ``on_response``, later notifications to ``on_notification``;
    ``on_end`` is called once when the exchange ends (with the transport error, or ``None``
    when the client ended it with a non-Observe response or we forgot it). All three are
    called synchronously, so the first response is always reported before the end.
    """

    def __init__(
        self,
        on_response: Callable[[Message], None],
        on_notification: Callable[[Message], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        self.token: bytes = b""
        self._on_response = on_response
        self._on_notification = on_notification
        self._on_end = on_end
        self._answered = False
        self._ended = False
        self._stop: Callable[[], None] | None = None

    def _handle(self, event: Any) -> bool:
        message: Message | None = event.message
        exception: BaseException | None = event.exception
        if not self._answered:
            self._answered = True
            if message is None:
                self._end(exception or ConnectionError("request ended"))
                return False
            self._on_response(message)
            if event.is_last or message.opt.observe is None:
                self._end(None)
                return False
            return True
        if message is not None:
            self._on_notification(message)
            if not event.is_last and message.opt.observe is not None:
                return True
        self._end(exception)
        return False

    def _end(self, exception: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(exception)

    def forget(self) -> None:
        """Stop listening on the token at once (passive cancel: the client's next confirmable
        notification is answered with RST, RFC 7641 §3.6)."""
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()
        self._end(None)


async def start_observation(
    context: Context,
    request: Message,
    *,
    on_response: Callable[[Message], None],
    on_notification: Callable[[Message], None],
    on_end: Callable[[BaseException | None], None],
) -> ObservationExchange:
    """Send ``request`` (a GET with Observe=0 and ``remote`` set) and return its exchange."""
    exchange = ObservationExchange(on_response, on_notification, on_end)
    pipe = Pipe(request, context.log)
    exchange._stop = pipe.on_event(exchange._handle)
    interface = await context.find_remote_and_interface(request)
    interface.request(pipe)
    exchange.token = bytes(request.token)
    return exchange


async def send_with_token(context: Context, request: Message, token: bytes) -> Message:
    """Send ``request`` with a given token and return the response (for the active cancel of
    an observation: a GET with Observe=1 and the observation's token, RFC 7641 §3.6)."""
    result: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def handle(event: Any) -> bool:
        if not result.done():
            if event.message is not None:
                result.set_result(event.message)
            else:
                result.set_exception(event.exception or ConnectionError("request ended"))
        return False

    pipe = Pipe(request, context.log)
    stop = pipe.on_event(handle)
    interface = await context.find_remote_and_interface(request)
    # The token manager always draws a fresh token; lend it ours for this one call.
    interface.next_token = lambda: token
    try:
        interface.request(pipe)
    finally:
        del interface.next_token
    try:
        return await result
    finally:
        stop()
