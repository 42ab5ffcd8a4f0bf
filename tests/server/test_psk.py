"""DTLS-PSK with the credential store: libcoap's coap-client-openssl (a peer nobody here wrote)
registers over DTLS; a wrong key fails the handshake and registers nothing; an identity only
opens its own endpoint."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from aiocoap import Code

from emulator.adapters.dtls.coap import DtlsHandshakeError
from emulator.adapters.lwm2m_server import LwM2MServer, Registered

from .aiocoap_device import AiocoapDevice
from .conftest import DeviceFactory

COAP_CLIENT = "coap-client-openssl"


async def coap_client(*arguments: str, timeout: float = 10.0) -> tuple[int, str]:
    """Run libcoap's client; returns (exit code, stdout + stderr)."""
    if shutil.which(COAP_CLIENT) is None:
        pytest.skip(f"{COAP_CLIENT} is not installed (Debian libcoap3-bin)")
    process = await asyncio.create_subprocess_exec(
        COAP_CLIENT,
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def register_args(server: LwM2MServer, endpoint: str, identity: str, key: str) -> list[str]:
    return [
        "-m", "post",
        "-u", identity,
        "-k", key,
        "-t", "40",
        "-e", "</1/0>,</3/0>",
        "-B", "2",  # give up after 2 s (a failed handshake gets no answer)
        f"coaps://127.0.0.1:{server.coaps_port}/rd?ep={endpoint}&lt=120&lwm2m=1.0&b=U",
    ]  # fmt: skip


async def test_libcoap_registers_over_dtls_with_the_stored_psk(server: LwM2MServer) -> None:
    server.set_psk("libcoap-ep", "libcoap-id", b"libcoap-secret")
    with server.subscribe() as events:
        code, output = await coap_client(
            *register_args(server, "libcoap-ep", "libcoap-id", "libcoap-secret")
        )
        event = await events.wait_for(lambda e: isinstance(e, Registered), timeout=5)
    assert code == 0, output
    assert isinstance(event, Registered)
    assert event.registration.secure_endpoint == "libcoap-ep"
    assert event.registration.objects == {1: (0,), 3: (0,)}


async def test_libcoap_with_a_wrong_key_registers_nothing(server: LwM2MServer) -> None:
    server.set_psk("libcoap-ep", "libcoap-id", b"libcoap-secret")
    with server.subscribe() as events:
        _, output = await coap_client(
            *register_args(server, "libcoap-ep", "libcoap-id", "not-the-secret")
        )
        assert events.queue.empty()
    # a 2.01 (Created) anywhere in libcoap's log, but not inside a time stamp (12.017)
    assert re.search(r"\b2\.01\b", output) is None, output
    assert server.registrations() == ()
    # Unknown identities fail the same way.
    await coap_client(*register_args(server, "libcoap-ep", "stranger", "libcoap-secret"))
    assert server.registrations() == ()


async def test_libcoap_identity_opens_only_its_own_endpoint(server: LwM2MServer) -> None:
    server.set_psk("owner", "owner-id", b"owner-secret")
    _, output = await coap_client(
        *register_args(server, "someone-else", "owner-id", "owner-secret")
    )
    assert "4.03" in output, output
    assert server.registrations() == ()


async def test_aiocoap_client_with_a_wrong_key_gets_no_registration(
    server: LwM2MServer,
) -> None:
    server.set_psk("guarded", "guarded-id", bytes(range(16)))
    device = AiocoapDevice("guarded")
    await device.start(f"coaps://127.0.0.1:{server.coaps_port}", psk=(b"guarded-id", bytes(16)))
    try:
        # The server cannot verify the client's Finished and says so with a fatal
        # bad_record_mac alert: the client knows at once.
        with pytest.raises(DtlsHandshakeError, match="bad_record_mac"):
            await device.register(timeout=10)
    finally:
        await device.close()
    assert server.registration("guarded") is None


async def test_an_endpoint_with_a_psk_cannot_register_in_the_clear(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    server.set_psk("must-be-secure", "msb-id", "0011")
    device = await make_device("must-be-secure")
    response = await device.register()
    assert response.code == Code.FORBIDDEN
    assert b"DTLS" in response.payload
    # Removing the PSK lifts the rule.
    assert server.remove_psk("must-be-secure")
    assert (await device.register()).code == Code.CREATED


def test_credential_store_input_checks(server: LwM2MServer) -> None:
    with pytest.raises(ValueError, match="hex"):
        server.set_psk("x", "id", "not hex")
    with pytest.raises(ValueError, match="empty"):
        server.set_psk("x", "", "00")
    server.set_psk("a", "shared-id", "00")
    with pytest.raises(ValueError, match="already belongs"):
        server.set_psk("b", "shared-id", "01")
    server.set_psk("a", "new-id", "02")  # replacing frees the old identity
    server.set_psk("b", "shared-id", "01")
