"""The aiocoap internals the adapter (emulator/adapters/lwm2m_client.py) relies on.

If one of these fails after an aiocoap upgrade, the adapter's queue-mode filter (a wrapper of
the message managers' ``dispatch_message``) needs another way in.
"""

from __future__ import annotations

import asyncio
import inspect

import aiocoap
from aiocoap.messagemanager import MessageManager
from aiocoap.transports.udp6 import MessageInterfaceUDP6, UDP6EndpointAddress

from emulator.adapters.dtls.coap import DtlsClientInterface
from emulator.adapters.host import ModuleHost
from emulator.adapters.lwm2m_client import CoapAdapter
from emulator.commands.lwm2m import client_for
from emulator.module.virtual import VirtualModule

from .harness import lwm2m_profile


def test_message_manager_dispatch_is_an_instance_lookup() -> None:
    """The queue-mode filter replaces ``dispatch_message`` on the manager instance; udp6
    reaches it through its ``_ctx`` at call time (our DTLS interface through ``ctx``)."""
    assert callable(MessageManager.dispatch_message)
    udp6 = inspect.getsource(__import__("aiocoap.transports.udp6", fromlist=["x"]))
    assert "self._ctx.dispatch_message(" in udp6


async def test_server_context_exposes_its_managers() -> None:
    class Root:
        async def render_to_pipe(self, pipe: object) -> None:
            raise AssertionError("not used")

    context = await aiocoap.Context.create_server_context(
        Root(), bind=("127.0.0.1", 0), transports=["udp6"]
    )
    await DtlsClientInterface.create(context)
    try:
        managers = [getattr(ri, "token_interface", None) for ri in context.request_interfaces]
        assert all(isinstance(m, MessageManager) for m in managers)
        kinds = {type(m.message_interface).__name__ for m in managers}  # type: ignore[union-attr]
        assert kinds == {"MessageInterfaceUDP6", "DtlsClientInterface"}
    finally:
        await context.shutdown()


def test_udp6_binds_with_reuseport() -> None:
    """Why the adapter binds its own socket: aiocoap's udp6 sets SO_REUSEPORT before bind, and
    Linux may hand a bind to port 0 a port another SO_REUSEPORT socket already holds."""
    udp6 = inspect.getsource(__import__("aiocoap.transports.udp6", fromlist=["x"]))
    assert "socket.SO_REUSEPORT, 1)" in udp6


def test_udp6_runs_on_a_given_socket_and_takes_a_given_remote() -> None:
    """The adapter hands udp6 a socket it bound (``_create_transport_endpoint``) and gives each
    plain-CoAP request a ``UDP6EndpointAddress`` made once per session, so nothing resolves
    the server's address per send."""
    create = inspect.signature(MessageInterfaceUDP6._create_transport_endpoint)
    assert list(create.parameters)[:4] == ["sock", "ctx", "log", "loop"]
    address = inspect.signature(UDP6EndpointAddress)
    assert list(address.parameters)[:2] == ["sockaddr", "interface"]


async def test_many_modules_get_distinct_ports() -> None:
    """300 module contexts in one process (quecemu serve --count 300): no two share a port.
    When each context bound with SO_REUSEPORT, about one in 200 binds landed on a taken port
    and that module never saw its server's answers."""
    loop = asyncio.get_running_loop()
    profile = lwm2m_profile()
    adapters = []
    try:
        for _ in range(300):
            module = VirtualModule(profile, now=loop.time())
            adapter = CoapAdapter(ModuleHost(module, clock=loop.time), client_for(module))
            adapters.append(adapter)
            await adapter._ensure_context("127.0.0.1", scheme="coap")
        ports = []
        for adapter in adapters:
            assert adapter._udp is not None
            ports.append(adapter._udp.transport.get_extra_info("socket").getsockname()[1])
        assert len(set(ports)) == len(ports)
    finally:
        for adapter in adapters:
            await adapter.stop()
