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
import os
import socket
from pathlib import Path

import pytest

from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.adapters.udpbind import RECEIVE_BUFFER


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


def _receive_buffer_of(port: int) -> int:
    """SO_RCVBUF of this process's UDP socket bound to ``port`` (found among its descriptors,
    as the kernel sees it)."""
    for entry in Path("/proc/self/fd").iterdir():
        try:
            copy = os.dup(int(entry.name))
        except OSError:  # the directory's own descriptor, closed meanwhile
            continue
        try:
            sock = socket.socket(fileno=copy)  # the family and type are read from the socket
        except OSError:  # not a socket
            os.close(copy)
            continue
        with sock:
            if sock.type == socket.SOCK_DGRAM and sock.getsockname()[1] == port:
                return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    raise AssertionError(f"no UDP socket on port {port}")


async def test_every_listener_has_a_receive_buffer_for_a_storm() -> None:
    """Thousands of Registers or ClientHellos at once overflow a default receive buffer; each
    lost one costs its device a retransmission timer. Plain and DTLS listeners ask for more
    (Linux grants up to net.core.rmem_max and reports twice what it reserved)."""
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    wanted = min(RECEIVE_BUFFER, rmem_max) * 2
    server = await LwM2MServer.start(coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0))
    try:
        for name in ("coap", "coaps"):
            assert _receive_buffer_of(server.listeners[name].port) >= wanted, name
    finally:
        await server.stop()
