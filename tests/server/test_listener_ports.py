"""The server's plain-CoAP listeners hold their ports alone.

Linux lets sockets of one user that all set SO_REUSEPORT share a UDP port, splitting the
datagrams to it between them by a hash of the sender's address; a bind to port 0 can even be
handed a port such a socket already holds. aiocoap's udp6 binding sets SO_REUSEPORT, so when
many embedded servers ran in one process (``quecemu scenario run --modules 100``: a server per
module, two plain-CoAP listeners each), one module's Register now and then reached another
module's server (which registered it: the module saw 2.01 and its own server nothing) or a
bootstrap-only listener (4.04: ``+QLWURC: "ready","failed"``).
"""

from __future__ import annotations

import errno
import socket

import pytest

from emulator.adapters.lwm2m_server import LwM2MServer


def _share(port: int) -> socket.socket:
    """A socket that asks to share 127.0.0.1:``port`` as aiocoap's udp6 binding would."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(("::ffff:127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


async def test_no_socket_can_share_a_plain_coap_listener_port() -> None:
    server = await LwM2MServer.start(coap=("127.0.0.1", 0), bootstrap=("127.0.0.1", 0))
    try:
        for name in ("coap", "bootstrap"):
            port = server.listeners[name].port
            with pytest.raises(OSError) as refused:
                _share(port).close()
            assert refused.value.errno == errno.EADDRINUSE, name
    finally:
        await server.stop()


async def test_servers_in_one_process_get_ports_of_their_own() -> None:
    """40 servers at once (80 plain-CoAP listeners) and their DTLS listeners: no port twice."""
    servers = []
    try:
        for _ in range(40):
            servers.append(
                await LwM2MServer.start(
                    coap=("127.0.0.1", 0),
                    coaps=("127.0.0.1", 0),
                    bootstrap=("127.0.0.1", 0),
                )
            )
        ports = [listener.port for s in servers for listener in s.listeners.values()]
        assert len(ports) == 120
        assert len(set(ports)) == len(ports)
    finally:
        for server in servers:
            await server.stop()


async def test_a_taken_port_is_refused_with_the_address() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    try:
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await LwM2MServer.start(coap=("127.0.0.1", port))
    finally:
        holder.close()
