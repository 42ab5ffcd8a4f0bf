"""MQTT AT commands against a real mosquitto on loopback, byte-exact on the AT port.

The module's peer is a second client (aiomqtt) on the same broker: it sees what the module
publishes and publishes what the module receives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiomqtt
import pytest

from emulator.adapters.netmap import NetworkMap, attach_network_map
from tests.datastack.harness import AtPort, Mosquitto, stack_profile

OK = b"\r\nOK\r\n"


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    mosquitto = Mosquitto().start()
    yield mosquitto
    mosquitto.close()


@pytest.fixture
async def port() -> AsyncIterator[AtPort]:
    module = await AtPort().start()
    yield module
    await module.stop()


async def connect(port: AtPort, broker: Mosquitto, index: int = 0, cid: str = "dev1") -> None:
    assert await port.at(f'AT+QMTOPEN={index},"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == f"\r\n+QMTOPEN: {index},0\r\n".encode()
    assert await port.at(f'AT+QMTCONN={index},"{cid}"') == OK
    assert await port.urc() == f"\r\n+QMTCONN: {index},0,0\r\n".encode()


async def peer_messages(
    peer: aiomqtt.Client, count: int, timeout: float = 10.0
) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []

    async def take() -> None:
        async for message in peer.messages:
            got.append(message)
            if len(got) == count:
                return

    await asyncio.wait_for(take(), timeout)
    return got


async def test_open_connect_subscribe_publish_receive_and_disconnect(
    port: AtPort, broker: Mosquitto
) -> None:
    assert await port.at("AT+QMTOPEN=?") == b'\r\n+QMTOPEN: (0-5),"<host_name>",(0-65535)\r\n' + OK
    await connect(port, broker)
    assert await port.at("AT+QMTOPEN?") == (
        f'\r\n+QMTOPEN: 0,"127.0.0.1",{broker.port}\r\n'.encode() + OK
    )
    assert await port.at("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,3\r\n" + OK
    assert await port.at('AT+QMTSUB=0,1,"down/#",1,"cmd",2') == OK
    assert await port.urc() == b"\r\n+QMTSUB: 0,1,0,1,2\r\n"
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.subscribe("up/#", qos=2)
        # Prompt form, ended by Ctrl-Z.
        assert await port.at('AT+QMTPUB=0,0,0,0,"up/a"') == b"\r\n> "
        assert await port.data(b"hello MQTT\x1a") == OK
        assert await port.urc() == b"\r\n+QMTPUB: 0,0,0\r\n"
        # Length form, QoS 2: the payload is taken byte for byte.
        assert await port.at('AT+QMTPUB=0,7,2,0,"up/b",5') == b"\r\n> "
        assert await port.data(b"12345") == OK
        assert await port.urc() == b"\r\n+QMTPUB: 0,7,0\r\n"
        got = await peer_messages(peer, 2)
        assert [(m.topic.value, m.payload, m.qos) for m in got] == [
            ("up/a", b"hello MQTT", 0),
            ("up/b", b"12345", 2),
        ]
        await peer.publish("down/x", b"on", qos=0)
        assert await port.urc() == b'\r\n+QMTRECV: 0,0,"down/x","on"\r\n'
    assert await port.at('AT+QMTUNS=0,2,"down/#"') == OK
    assert await port.urc() == b"\r\n+QMTUNS: 0,2,0\r\n"
    assert await port.at("AT+QMTDISC=0") == OK
    assert await port.urc() == b"\r\n+QMTDISC: 0,0\r\n"
    assert await port.at("AT+QMTCONN?") == OK
    assert await port.at("AT+QMTOPEN?") == OK


async def test_wrong_ids_states_and_parameters_are_refused(port: AtPort, broker: Mosquitto) -> None:
    assert await port.at(f'AT+QMTOPEN=6,"127.0.0.1",{broker.port}') == b"\r\n+CME ERROR: 50\r\n"
    assert await port.at('AT+QMTOPEN=0,"127.0.0.1",70000') == b"\r\n+CME ERROR: 50\r\n"
    assert await port.at('AT+QMTCONN=1,"x"') == b"\r\nERROR\r\n"  # not opened
    assert await port.at('AT+QMTPUB=1,0,0,0,"t"') == b"\r\nERROR\r\n"  # not connected
    assert await port.at("AT+QMTCLOSE=3") == b"\r\nERROR\r\n"
    await connect(port, broker)
    assert await port.at(f'AT+QMTOPEN=0,"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == b"\r\n+QMTOPEN: 0,2\r\n"  # identifier occupied
    assert await port.at('AT+QMTPUB=0,1,0,0,"t"') == b"\r\n+CME ERROR: 50\r\n"  # QoS 0, msgid 1
    assert await port.at('AT+QMTPUB=0,0,1,0,"t"') == b"\r\n+CME ERROR: 50\r\n"  # QoS 1, msgid 0
    assert await port.at('AT+QMTPUB=0,0,0,0,"t",4097') == b"\r\n+CME ERROR: 50\r\n"
    assert await port.at('AT+QMTSUB=0,1,"t"') == b"\r\n+CME ERROR: 50\r\n"  # no QoS
    assert await port.at('AT+QMTCFG="keepalive",0,30') == b"\r\n+CME ERROR: 3\r\n"  # in use
    assert await port.at('AT+QMTCFG="keepalive",1,3601') == b"\r\n+CME ERROR: 50\r\n"
    assert await port.at('AT+QMTCFG="nosuch",1') == b"\r\n+CME ERROR: 50\r\n"
    # ESC cancels a prompt; the port answers commands right after.
    assert await port.at('AT+QMTPUB=0,0,0,0,"t"') == b"\r\n> "
    assert await port.data(b"abc\x1b") == OK
    assert await port.at("AT") == OK


async def test_binary_payloads_cross_the_prompt_and_the_urc_unchanged(
    port: AtPort, broker: Mosquitto
) -> None:
    payload = bytes([0, 0x1A, 0x1B, 13, 10, 0x22, 0xFF, 0x80])
    await connect(port, broker)
    assert await port.at('AT+QMTSUB=0,1,"bin",1') == OK
    assert await port.urc() == b"\r\n+QMTSUB: 0,1,0,1\r\n"
    assert await port.at('AT+QMTCFG="recv/mode",0,0,1') == OK  # with <payload_len>
    assert await port.at(f'AT+QMTPUB=0,3,1,0,"bin",{len(payload)}') == b"\r\n> "
    assert await port.data(payload) == OK
    # The module's own message comes back (it is subscribed): +QMTPUB and +QMTRECV.
    first = await port.urc()
    wanted_recv = b'\r\n+QMTRECV: 0,1,"bin",8,"' + payload + b'"\r\n'
    if first == b"\r\n+QMTPUB: 0,3,0\r\n":
        await port.expect(wanted_recv)
    else:
        port.cursor -= len(first)
        await port.expect(wanted_recv)
        assert await port.urc() == b"\r\n+QMTPUB: 0,3,0\r\n"


async def test_oversized_prompt_input_is_cut_at_the_limit(port: AtPort, broker: Mosquitto) -> None:
    await connect(port, broker)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.subscribe("big")
        assert await port.at('AT+QMTPUB=0,0,0,0,"big"') == b"\r\n> "
        assert await port.data(b"x" * 2000 + b"\x1a") == OK
        assert await port.urc() == b"\r\n+QMTPUB: 0,0,0\r\n"
        (got,) = await peer_messages(peer, 1)
        assert got.payload == b"x" * 1460  # MQTT AN: data past 1460 bytes is dropped


async def test_buffered_receive_mode(port: AtPort, broker: Mosquitto) -> None:
    assert await port.at('AT+QMTCFG="recv/mode",0,1') == OK
    assert await port.at('AT+QMTCFG="recv/mode",0') == b'\r\n+QMTCFG: "recv/mode",1,0\r\n' + OK
    await connect(port, broker)
    assert await port.at('AT+QMTSUB=0,1,"buf",0') == OK
    assert await port.urc() == b"\r\n+QMTSUB: 0,1,0,0\r\n"
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.publish("buf", b"one")
        await peer.publish("buf", b"two")
    assert await port.urc() == b"\r\n+QMTRECV: 0,0\r\n"
    assert await port.urc() == b"\r\n+QMTRECV: 0,1\r\n"
    assert await port.at("AT+QMTRECV?") == b"\r\n+QMTRECV: 0,1,1,0,0,0\r\n" + OK
    assert await port.at("AT+QMTRECV=0,1") == b'\r\n+QMTRECV: 0,0,"buf","two"\r\n' + OK
    assert await port.at("AT+QMTRECV=0") == b'\r\n+QMTRECV: 0,0,"buf","one"\r\n' + OK
    assert await port.at("AT+QMTRECV?") == b"\r\n+QMTRECV: 0,0,0,0,0,0\r\n" + OK


async def test_broker_going_away_gives_qmtstat_1(port: AtPort, broker: Mosquitto) -> None:
    await connect(port, broker)
    broker.stop()
    assert await port.urc() == b"\r\n+QMTSTAT: 0,1\r\n"
    assert await port.at("AT+QMTCONN?") == OK
    assert await port.at(f'AT+QMTOPEN=0,"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == b"\r\n+QMTOPEN: 0,5\r\n"  # refused: profile open_refused_result


async def test_broker_closing_an_opened_link_before_connect(
    port: AtPort, broker: Mosquitto
) -> None:
    assert await port.at(f'AT+QMTOPEN=2,"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == b"\r\n+QMTOPEN: 2,0\r\n"
    broker.stop()
    assert await port.urc() == b"\r\n+QMTSTAT: 2,1\r\n"


async def test_unknown_host_gives_dns_failure(port: AtPort) -> None:
    assert await port.at('AT+QMTOPEN=0,"no-such-host.invalid",1883') == OK
    assert await port.urc(timeout=30) == b"\r\n+QMTOPEN: 0,4\r\n"
    # Outside loopback and not in the network map: refused like a failed connection.
    assert await port.at('AT+QMTOPEN=0,"203.0.113.10",1883') == OK
    assert await port.urc(timeout=30) == b"\r\n+QMTOPEN: 0,5\r\n"


async def test_the_network_map_sends_a_public_broker_name_to_mosquitto(
    broker: Mosquitto,
) -> None:
    port = AtPort()
    await port.start()
    try:
        attach_network_map(
            port.module,
            NetworkMap.from_entries([f"broker.example.com:1883=127.0.0.1:{broker.port}"]),
        )
        assert await port.at('AT+QMTOPEN=0,"broker.example.com",1883') == OK
        assert await port.urc() == b"\r\n+QMTOPEN: 0,0\r\n"
        assert await port.at("AT+QMTOPEN?") == b'\r\n+QMTOPEN: 0,"broker.example.com",1883\r\n' + OK
        assert await port.at('AT+QMTCONN=0,"mapped"') == OK
        assert await port.urc() == b"\r\n+QMTCONN: 0,0,0\r\n"
    finally:
        await port.stop()


async def test_will_is_published_when_the_link_drops_and_mqtt_3_1_works(
    port: AtPort, broker: Mosquitto
) -> None:
    assert await port.at('AT+QMTCFG="version",1,3') == OK
    assert await port.at('AT+QMTCFG="will",1,1,1,0,"status/dev","offline"') == OK
    assert await port.at('AT+QMTCFG="will",1') == (
        b'\r\n+QMTCFG: "will",1,1,0,"status/dev","offline"\r\n' + OK
    )
    assert await port.at('AT+QMTCFG="session",1,0') == OK
    await connect(port, broker, index=1, cid="dev-31")
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.subscribe("status/#", qos=1)
        assert await port.at("AT+QMTCLOSE=1") == OK  # drops the link without DISCONNECT
        assert await port.urc() == b"\r\n+QMTCLOSE: 1,0\r\n"
        (will,) = await peer_messages(peer, 1)
        assert (will.topic.value, will.payload) == ("status/dev", b"offline")


async def test_refused_connect_reports_the_connack_code(port: AtPort, broker: Mosquitto) -> None:
    assert await port.at('AT+QMTCFG="session",0,0') == OK  # persistent session, empty id
    assert await port.at(f'AT+QMTOPEN=0,"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == b"\r\n+QMTOPEN: 0,0\r\n"
    assert await port.at('AT+QMTCONN=0,""') == OK
    assert await port.urc() == b"\r\n+QMTCONN: 0,0,2\r\n"  # identifier rejected
    assert await port.at("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,1\r\n" + OK


async def test_pdp_deactivation_and_cfun0_close_links(port: AtPort, broker: Mosquitto) -> None:
    await connect(port, broker, index=0, cid="a")
    await connect(port, broker, index=3, cid="b")
    assert await port.at("AT+QIDEACT=1") == OK
    assert await port.urc() == b"\r\n+QMTSTAT: 0,1\r\n"
    assert await port.urc() == b"\r\n+QMTSTAT: 3,1\r\n"
    await connect(port, broker, index=0, cid="a")  # QMTOPEN brings the context up again
    assert await port.at("AT+CFUN=0") == OK
    await port.expect_somewhere(b"\r\n+QMTSTAT: 0,1\r\n")
    assert await port.at(f'AT+QMTOPEN=0,"127.0.0.1",{broker.port}') == OK
    assert await port.urc() == b"\r\n+QMTOPEN: 0,3\r\n"  # no network: PDP cannot come up


async def test_network_faults_close_links_with_qmtstat(port: AtPort, broker: Mosquitto) -> None:
    """The network tearing the context down, then the cell going: +QMTSTAT: <id>,1 each."""
    assert port.host is not None
    await connect(port, broker, index=1, cid="fault-a")
    port.host.apply(lambda now: port.module.network_deactivate_pdp(now, 1))
    await port.expect_somewhere(b"\r\n+QMTSTAT: 1,1\r\n")
    assert await port.at("AT+QMTCONN?") == OK
    await connect(port, broker, index=1, cid="fault-a")  # the context comes up again
    port.host.apply(lambda now: port.module.set_coverage(False, now))
    await port.expect_somewhere(b"\r\n+QMTSTAT: 1,1\r\n")
    assert await port.at("AT+QMTCONN?") == OK


async def test_unanswered_ping_gives_qmtstat_2() -> None:
    broker = Mosquitto().start()
    port = await AtPort(stack_profile(ping_urc=True)).start()
    try:
        assert await port.at('AT+QMTCFG="keepalive",0,1') == OK
        await connect(port, broker)
        broker.pause()  # frozen: TCP stays up, nothing answers PINGREQ
        assert await port.urc(timeout=20) == b"\r\n+QMTPING: 0,1\r\n"
        assert await port.urc() == b"\r\n+QMTSTAT: 0,2\r\n"
    finally:
        broker.resume()
        await port.stop()
        broker.close()


async def test_reboot_and_exit_close_every_link(broker: Mosquitto) -> None:
    port = await AtPort().start()
    assert await port.at('AT+QMTCFG="will",0,1,0,0,"gone","rebooted"') == OK
    await connect(port, broker)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.subscribe("gone")
        assert await port.at("AT+CFUN=1,1") == OK
        (will,) = await peer_messages(peer, 1)
        assert will.payload == b"rebooted"
        await port.expect_somewhere(b"+QIND: PB DONE\r\n")
        assert await port.at("ATE0") == b"ATE0\r" + OK  # a reboot restores echo on
        assert await port.at("AT+QMTOPEN?") == OK
        assert await port.at('AT+QMTCFG="will",0') == b'\r\n+QMTCFG: "will",0\r\n' + OK
        assert await port.at('AT+QMTCFG="will",0,1,0,0,"gone","exited"') == OK
        await connect(port, broker)
        await port.stop()
        (will,) = await peer_messages(peer, 1)
        assert will.payload == b"exited"


async def test_power_down_drops_the_link(port: AtPort, broker: Mosquitto) -> None:
    assert await port.at('AT+QMTCFG="will",0,1,0,0,"gone","powered down"') == OK
    await connect(port, broker)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="peer") as peer:
        await peer.subscribe("gone")
        port.send(b"AT+QPOWD\r")
        (will,) = await peer_messages(peer, 1)
        assert will.payload == b"powered down"
