"""UDP sockets for aiocoap's udp6 transport, bound here without SO_REUSEPORT.

aiocoap's own udp6 binding sets SO_REUSEPORT before it binds. Linux lets sockets of one user
that all set it share a UDP port, and splits the datagrams sent to that port between them by a
hash of the sender's address; even a bind to port 0 may be handed a port such a socket already
holds (the port search passes over only ports whose holders would refuse to share). With many
modules or servers in one process (a fleet, ``quecemu scenario run --modules N``) about one
bind in a few hundred lands on a taken port, and the two sockets steal each other's
datagrams. Both the module's CoAP socket and the server's listeners are therefore bound here,
as sockets of their own, and handed to udp6 (``MessageInterfaceUDP6._create_transport_endpoint``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any

import aiocoap
from aiocoap.transports.udp6 import MessageInterfaceUDP6

WILDCARDS = ("", "::")


def udp6_socket(sockaddr: tuple[str, int]) -> socket.socket:
    """A dual-stack UDP socket bound to ``sockaddr`` (an IP literal; IPv4 is bound
    IPv4-mapped, RFC 4291 §2.5.5.2, as udp6 expects); ``OSError`` if the port is taken."""
    host, port = sockaddr
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host if ":" in host or host == "" else f"::ffff:{host}", port))
    except BaseException:
        sock.close()
        raise
    return sock


async def bind_udp6(host: str, port: int) -> socket.socket:
    """:func:`udp6_socket` for a listener's configured address: a name is resolved first (once,
    at start-up); a taken port raises ``OSError`` saying which address could not be had."""
    address = host
    if host not in WILDCARDS:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
            )
            if not infos:
                raise OSError(f"cannot listen on {host}:{port}: no address") from None
            address = str(infos[0][4][0])
    try:
        return udp6_socket((address, port))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def udp6_interface(
    sock: socket.socket, message_manager: Any, context: aiocoap.Context
) -> MessageInterfaceUDP6:
    """aiocoap's udp6 message interface on ``sock`` (closed if the interface cannot start)."""
    starting = asyncio.ensure_future(
        MessageInterfaceUDP6._create_transport_endpoint(
            sock, message_manager, context.log, context.loop
        )
    )
    try:
        interface: MessageInterfaceUDP6 = await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Cancelled (Ctrl-C) while the endpoint starts: aiocoap would close the transport
        # under the interface and log "Connection loss was not expected". Let it finish (one
        # turn of the loop) and shut it down the way aiocoap expects instead.
        with contextlib.suppress(Exception):
            await (await starting).shutdown()
        sock.close()
        raise
    except BaseException:
        sock.close()
        raise
    return interface


#: A registration storm (thousands of devices powering on at once) arrives faster than one
#: event loop drains it; the default buffer (about 200 KB, some 150 datagrams) overflows and
#: each dropped Register costs its device a CoAP retransmission 2-3 s later (RFC 7252 §4.2).
#: Linux caps the request at net.core.rmem_max.
RECEIVE_BUFFER = 4 * 1024 * 1024


def widen_receive_buffer(sock: socket.socket) -> None:
    """Ask for a listener's receive buffer that holds a storm (see RECEIVE_BUFFER)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
