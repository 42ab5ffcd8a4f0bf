"""Fails loudly when the aiocoap internals emulator/adapters/lwm2m_server/transport.py and
emulator/adapters/dtls/coap.py rely on change (and emulator/adapters/coap_exchange.py).

pyproject.toml allows aiocoap 0.4.x from 0.4.17 on. If one of these tests fails after an
upgrade, re-read aiocoap's protocol (Context), messagemanager, tokenmanager and pipe modules and
adapt transport.py / emulator/adapters/dtls/coap.py.
"""

from __future__ import annotations

import inspect
import socket

import pytest
from aiocoap import Context, interfaces, protocol, tokenmanager
from aiocoap.messagemanager import MessageManager
from aiocoap.pipe import Pipe
from aiocoap.transports.udp6 import MessageInterfaceUDP6, UDP6EndpointAddress

from emulator.adapters.dtls.coap import DtlsClientInterface, DtlsServerInterface
from emulator.adapters.undecodable import UdpRemote


def test_message_interface_layering_we_build_is_aiocoaps() -> None:
    """append_message_interface wires a message interface the way aiocoap's own
    ``_append_tokenmanaged_messagemanaged_transport`` does."""
    source = inspect.getsource(Context._append_tokenmanaged_messagemanaged_transport)
    for line in (
        "tman = TokenManager(self)",
        "mman = MessageManager(tman)",
        "mman.message_interface = transport",
        "tman.token_interface = mman",
        "self.request_interfaces.append(tman)",
    ):
        assert line in source, line
    assert issubclass(DtlsServerInterface, interfaces.MessageInterface)
    assert issubclass(DtlsClientInterface, interfaces.MessageInterface)
    abstract = interfaces.MessageInterface.__abstractmethods__
    assert abstract <= {"shutdown", "send", "determine_remote", "recognize_remote"}
    # Our interfaces hand received messages and errors to the manager by these names.
    assert callable(MessageManager.dispatch_message) and callable(MessageManager.dispatch_error)
    assert "recognize_remote(message.remote)" in inspect.getsource(
        MessageManager.fill_or_recognize_remote
    )


def test_context_and_token_layer_internals_we_use_are_there() -> None:
    assert callable(Context.find_remote_and_interface)
    request_source = inspect.getsource(tokenmanager.TokenManager.request)
    # send_with_token lends the token manager our token through next_token.
    assert "msg.token = self.next_token()" in request_source
    assert callable(Pipe.on_event) and callable(Pipe.add_response)
    assert "Event" in vars(Pipe)
    # The listeners run udp6 on sockets bound by emulator.adapters.udpbind (no SO_REUSEPORT).
    create = inspect.signature(MessageInterfaceUDP6._create_transport_endpoint)
    assert list(create.parameters)[:4] == ["sock", "ctx", "log", "loop"]
    assert "self.transport = transport" in inspect.getsource(MessageInterfaceUDP6.connection_made)
    # Exchanges schedule on the context's loop (coap_exchange: no asyncio.get_running_loop()).
    assert "self.loop = loop" in inspect.getsource(Context.__init__)
    # Context.request is what ordinary requests use (public API), still non-blockwise capable.
    assert "handle_blockwise" in inspect.signature(protocol.Context.request).parameters


def test_the_datagram_entry_and_block1_spool_we_wrap_are_there() -> None:
    """emulator/adapters/undecodable.py screens datagrams in front of ``datagram_msg_received`` and
    answers with ``transport.sendmsg``; emulator/adapters/block1.py wraps ``Block1Spool``, which
    resources keep as ``_block1``."""
    from aiocoap.blockwise import Block1Spool
    from aiocoap.util.asyncio.recvmsg import RecvmsgSelectorDatagramTransport

    receive = inspect.getsource(MessageInterfaceUDP6.datagram_msg_received)
    assert "Message.decode(" in receive and "dispatch_message(message)" in receive
    assert "datagram_msg_received(data, ancdata, flags, addr)" in inspect.getsource(
        RecvmsgSelectorDatagramTransport
    )
    assert callable(RecvmsgSelectorDatagramTransport.sendmsg)
    assert "ValueError" in inspect.getsource(Block1Spool.feed_and_take)  # gaps, overlaps
    assert "self._block1.feed_and_take(req)" in inspect.getsource(
        interfaces.Resource._render_to_pipe
    )


def test_the_duplicate_detection_we_replace_is_there() -> None:
    """emulator/adapters/dedup.py replaces ``_deduplicate_message`` and ``_recent_messages``;
    ``dispatch_message`` calls the first for requests, ``_store_response_for_duplicates``
    fills the second, and a duplicate CON is answered with ``_send_initially``."""
    dispatch = inspect.getsource(MessageManager.dispatch_message)
    assert "self._deduplicate_message(message) is True" in dispatch
    store = inspect.getsource(MessageManager._store_response_for_duplicates)
    assert "self._recent_messages[key] = message" in store
    assert "self._send_initially(self._recent_messages[key])" in inspect.getsource(
        MessageManager._deduplicate_message
    )


def test_what_the_server_context_answers_through_is_there() -> None:
    """transport.ServerContext overrides ``Context.render_to_pipe``, which the token manager
    calls for every incoming request, and slices large answers with the site's ``_block2``
    cache behind aiocoap's ``error_to_message``/``run_driving_pipe``, as aiocoap does."""
    from aiocoap import pipe, resource
    from aiocoap.blockwise import Block2Cache

    assert "self.context.render_to_pipe(pipe)" in inspect.getsource(
        tokenmanager.TokenManager.process_request
    )
    render = inspect.getsource(protocol.Context.render_to_pipe)
    assert "error_to_message(pipe" in render and "run_driving_pipe(" in render
    assert isinstance(resource.Resource()._block2, Block2Cache)
    assert "response_builder" in inspect.signature(Block2Cache.extract_or_insert).parameters
    assert callable(pipe.error_to_message) and callable(pipe.run_driving_pipe)
    assert "self._block2.extract_or_insert(" in inspect.getsource(
        interfaces.Resource._render_to_pipe
    )


class _Interface:  # a remote keeps only a weak reference to its interface
    pass


@pytest.mark.parametrize(
    "sockaddr",
    [
        ("::ffff:127.0.0.1", 40312, 0, 0),
        ("::ffff:10.1.2.3", 5683, 0, 0),
        ("::ffff:224.0.1.187", 5683, 0, 0),
        ("::1", 40312, 0, 0),
        ("2001:db8::1", 5683, 0, 0),
        ("2001:0db8:0:0:0:0:0:1", 1234, 0, 0),
        ("ff05::fd", 1234, 0, 0),
        ("fe80::1", 1234, 0, 1),
    ],
)
def test_udp_remote_says_what_aiocoaps_remote_says(sockaddr: tuple[str, int, int, int]) -> None:
    interface = _Interface()
    ours = UdpRemote(sockaddr, interface)
    theirs = UDP6EndpointAddress(sockaddr, interface)
    for _ in range(2):  # the second time from the caches
        assert ours.hostinfo == theirs.hostinfo
        assert ours.is_multicast == theirs.is_multicast
        # kept on the instance: aiocoap's remote has a __dict__ and never changes its address
        assert {"hostinfo", "is_multicast"} <= set(vars(ours))
    assert ours == theirs and hash(ours) == hash(theirs)
    assert "hash(self.sockaddr[:-1])" in inspect.getsource(UDP6EndpointAddress.__hash__)


def test_what_the_guard_does_in_place_of_datagram_msg_received_is_what_it_does() -> None:
    """emulator/adapters/undecodable.py decodes a datagram once and then does what aiocoap's
    ``datagram_msg_received`` would: the remote from the address and IPV6_PKTINFO, then the
    message manager's ``dispatch_message``; answers ask the remote ``as_response_address``,
    which only consults ``is_multicast_locally`` (cached by ``UdpRemote``)."""
    from aiocoap.message import Message

    receive = inspect.getsource(MessageInterfaceUDP6.datagram_msg_received)
    for line in (
        "cmsg_type == socket.IPV6_PKTINFO",
        "UDP6EndpointAddress(address, self, pktinfo=pktinfo)",
        "self._ctx.dispatch_message(message)",
    ):
        assert line in receive, line
    decode = inspect.getsource(Message.decode)
    assert "msg.remote = remote" in decode and "msg.direction = Direction.INCOMING" in decode
    assert "self.is_multicast_locally" in inspect.getsource(
        UDP6EndpointAddress.as_response_address
    )


@pytest.mark.parametrize("local", ["::ffff:127.0.0.1", "::ffff:224.0.1.187", "ff02::fd", "::1"])
def test_udp_remote_knows_multicast_locally_as_aiocoap_does(local: str) -> None:
    interface = _Interface()
    pktinfo = socket.inet_pton(socket.AF_INET6, local) + bytes(4)
    ours = UdpRemote(("::ffff:127.0.0.1", 40000, 0, 0), interface, pktinfo=pktinfo)
    theirs = UDP6EndpointAddress(("::ffff:127.0.0.1", 40000, 0, 0), interface, pktinfo=pktinfo)
    assert ours.is_multicast_locally == theirs.is_multicast_locally
    assert ours == theirs and ours.hostinfo == theirs.hostinfo


def test_what_a_direct_exchange_does_in_place_of_context_request_is_what_it_does() -> None:
    """emulator/adapters/coap_exchange.py hands a request pipe to the token manager of the
    remote's interface, as ``Context.request(..., handle_blockwise=False)`` does after
    finding that interface; it splits nothing where aiocoap's block-wise wrapper would not
    (the same threshold), and completes a Block2 response with the wrapper's routine."""
    from aiocoap.protocol import BlockwiseRequest

    direct = inspect.getsource(protocol.Context.request)
    assert "pipe = Pipe(request_message, self.log)" in direct
    assert "request_interface.request(pipe)" in direct
    assert list(inspect.signature(Pipe).parameters) == ["request", "log"]
    assert list(inspect.signature(Pipe.on_event).parameters) == [
        "self",
        "callback",
        "is_interest",
    ]
    assert set(Pipe.Event._fields) >= {"message", "exception", "is_last"}
    # The token manager takes the pipe as the inner request object gives it: token, the
    # matching key, interest end, and the message manager's CON handling (RFC 7252 §4.2).
    request = inspect.getsource(tokenmanager.TokenManager.request)
    for line in (
        "msg = request.request",
        "self.outgoing_requests[key] = request",
        "functools.partial(self.outgoing_requests.pop, key, None)",
        "send_canceller = self.token_interface.send_message(",
    ):
        assert line in request, line
    # The block-wise wrapper's Block1 threshold, mirrored by fits_one_message.
    wrapper = inspect.getsource(BlockwiseRequest._run)
    for line in (
        "size_exp = app_request.remote.maximum_block_size_exp",
        "if size_exp >= 6:",
        "fragmentation_threshold = app_request.remote.maximum_payload_size",
        "fragmentation_threshold = 2 ** (size_exp + 4)",
        "or len(app_request.payload) > fragmentation_threshold",
        "assembled_response = await cls._complete_by_requesting_block2(",
    ):
        assert line in wrapper, line
    assert list(inspect.signature(BlockwiseRequest._complete_by_requesting_block2).parameters) == [
        "protocol",
        "request_to_repeat",
        "initial_response",
        "log",
    ]
    # The remotes the module sends to say how much fits.
    from emulator.adapters.dtls.coap import DtlsClientConnection

    for remote in (UdpRemote, UDP6EndpointAddress, DtlsClientConnection):
        assert hasattr(remote, "maximum_payload_size")
        assert hasattr(remote, "maximum_block_size_exp")


def test_what_prepared_options_rely_on_is_there() -> None:
    """emulator/adapters/coap_exchange.py keeps an Options' encoding until ``add_option`` or
    ``delete_option`` runs: those must be the only ways aiocoap changes the option table, and
    a message's options must be an attribute it encodes through ``opt.encode()``."""
    from aiocoap import message, options

    source = inspect.getsource(options)
    # The table is written in __init__ (empty), add_option and delete_option, nowhere else.
    assert source.count("self._options[") == 0
    assert source.count("self._options.setdefault(") == 1
    assert source.count("self._options.pop(") == 1
    assert source.count("self._options = {}") == 1
    assert "self.add_option(option)" in inspect.getsource(options.Options.decode)
    view = inspect.getsource(options._items_view) + inspect.getsource(options._single_value_view)
    assert "self.delete_option(option_number)" in view
    assert "self.add_option(option_number.create_option(" in view
    assert options.Options.__slots__ == ["_options"]
    assert "rawdata += self.opt.encode()" in inspect.getsource(message.Message.encode)
    assert "self.opt = Options()" in inspect.getsource(message.Message.__init__)
    assert "new.opt = copy.deepcopy(self.opt)" in inspect.getsource(message.Message.copy)
