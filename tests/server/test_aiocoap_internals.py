"""Fails loudly when the aiocoap internals emulator/server/transport.py relies on change.

The patch is pinned to aiocoap 0.4.17 (pyproject.toml). If one of these tests fails after an
upgrade, re-read aiocoap's tinydtls_server, protocol (Context), tokenmanager and pipe modules
and adapt transport.py; if upstream learned to send requests over its DTLS server transport,
the subclass can go.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from aiocoap import Context, protocol, tokenmanager
from aiocoap.pipe import Pipe
from aiocoap.transports import simplesocketserver, tinydtls_server
from aiocoap.transports.udp6 import MessageInterfaceUDP6

from emulator.server.transport import DTLSServerTransport


def test_aiocoap_is_the_pinned_version() -> None:
    assert version("aiocoap") == "0.4.17", "transport.py is written against aiocoap 0.4.17"


def test_the_dtls_server_internals_we_use_are_there() -> None:
    server_class = tinydtls_server.MessageInterfaceTinyDTLSServer
    assert issubclass(DTLSServerTransport, server_class)
    assert server_class._serversocket is tinydtls_server._DatagramServerSocketSimpleDTLS
    # _AddressDTLS keeps its socket as ``_protocol`` and reads ``_server_credentials`` there.
    address_init = inspect.getsource(tinydtls_server._AddressDTLS.__init__)
    assert "self._protocol = protocol" in address_init
    assert "protocol._server_credentials" in address_init
    assert "authenticated_claims" in inspect.getsource(tinydtls_server._AddressDTLS)
    # The pool's transport is where the bound address is read.
    assert "self._transport = transport" in inspect.getsource(
        simplesocketserver._DatagramServerSocketSimple.connection_made
    )
    # create_server's port offset is why create_bound exists.
    assert "self._default_port - COAP_PORT" in inspect.getsource(
        simplesocketserver.MessageInterfaceSimpleServer.create_server
    )


def test_upstream_still_cannot_send_requests_over_its_dtls_server() -> None:
    """The reason for the patch: upstream recognize_remote only takes plain addresses. When
    this fails, upstream changed; the patch may no longer be needed."""
    source = inspect.getsource(simplesocketserver.MessageInterfaceSimpleServer.recognize_remote)
    assert "isinstance(remote, _Address)" in source
    assert "recognize_remote" not in vars(tinydtls_server.MessageInterfaceTinyDTLSServer)
    assert not issubclass(tinydtls_server._AddressDTLS, simplesocketserver._Address)


def test_context_and_token_layer_internals_we_use_are_there() -> None:
    assert callable(Context._append_tokenmanaged_messagemanaged_transport)
    assert callable(Context.find_remote_and_interface)
    request_source = inspect.getsource(tokenmanager.TokenManager.request)
    # send_with_token lends the token manager our token through next_token.
    assert "msg.token = self.next_token()" in request_source
    assert callable(Pipe.on_event) and callable(Pipe.add_response)
    assert "Event" in vars(Pipe)
    assert callable(MessageInterfaceUDP6.create_server_transport_endpoint)
    assert "self.transport = transport" in inspect.getsource(MessageInterfaceUDP6.connection_made)
    # Context.request is what ordinary requests use (public API), still non-blockwise capable.
    assert "handle_blockwise" in inspect.signature(protocol.Context.request).parameters
