"""The module against lwm2m-node-lib's LwM2M server (an independent peer), over plain CoAP.

The test talks to the module only through AT bytes and to the server only through its own
API (tests/peers/lwm2m_server.js), and checks both sides: URCs on the AT port, what the
server saw and got back.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from emulator.adapters.nvfile import FileNvStore
from emulator.lwm2m import codec, default_registry
from emulator.lwm2m.model import ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath

from .conftest import ModuleFactory
from .harness import AtModule, NodeServer

EP = "urn:imei:869339060001965"


async def register(module: AtModule, server: NodeServer, lifetime: int = 60) -> dict[str, object]:
    addr = f"coap://127.0.0.1:{server.port}"
    assert (await module.at(f'AT+QLWCFG="security",1,1000,"{addr}",0,3'))[-1] == "OK"
    assert (await module.at(f'AT+QLWCFG="server",1,{lifetime},1,60,86400,1,"U"'))[-1] == "OK"
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"ready","successfully",1000')
    return await server.event("registration")


async def test_register_and_read_device(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    module = await make_module()
    registration = await register(module, node_server)
    assert registration["ep"] == EP
    assert registration["lifetime"] == "60"
    assert registration["version"] == "1.0"
    assert registration["binding"] == "U"
    assert (
        registration["payload"] == '</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</4/0>,</5/0>,</11/0>'
    )
    assert module.urc_names() == ["pdp active", "initial", "registering", "ready"]
    assert module.urcs()[0] == '+QLWURC: "pdp active","successfully","cmnet"'
    assert await module.stat() == 2
    for path, expected in [
        ("/3/0/0", "Quectel"),
        ("/3/0/1", "EC200U"),
        ("/3/0/2", "MPY22K06Q0001965"),
        ("/3/0/3", "EC200UCNAAR03A15M08"),
        ("/4/0/2", str(-113 + 2 * 24)),
        ("/11/0/1", "cmnet"),
    ]:
        answer = await node_server.command("read", ep=EP, path=path)
        assert answer == {"id": answer["id"], "ok": True, "result": expected}, path
    # A multiple resource in LwM2M JSON (TS 1.0 §6.4.4), asked for with Accept.
    answer = await node_server.command(
        "read", ep=EP, path="/4/0/4", accept="application/vnd.oma.lwm2m+json"
    )
    document = json.loads(answer["result"])
    values = {document["bn"] + e["n"]: e["sv"] for e in document["e"]}
    assert values == {"/4/0/4/0": "10.46.73.41"}
    missing = await node_server.command("read", ep=EP, path="/3/0/77")
    assert missing["ok"] is False and missing["error"] == "RESOURCE_NOT_FOUND"  # 4.04


async def test_server_writes_raise_urcs(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    module = await make_module()
    await register(module, node_server)
    before = len(module.urcs())
    answer = await node_server.command("write", ep=EP, path="/1/0/1", value="120")
    assert answer["ok"], answer
    assert await module.wait_urc('"lifetime_changed",120', since=before)
    update = await node_server.event("update")
    assert update["lifetime"] == "120"  # the Update carries lt= (TS 1.0 §5.3.2)
    await module.wait_urc('"update","successfully",1000', since=before)
    lines = await module.at('AT+QLWCFG="server"')
    assert lines == ['+QLWCFG: "server",1,120,1,60,86400,1,"U"', "OK"]

    answer = await node_server.command("write", ep=EP, path="/3/0/13", value="1800000000")
    assert answer["ok"], answer
    assert await module.wait_urc('"current_time_changed",1800000000', since=before)
    clock = await module.at("AT+CCLK?")
    assert clock[0].startswith('+CCLK: "27/01/15,08:0'), clock  # 1800000000 is 2027-01-15 08:00
    now = await node_server.command("read", ep=EP, path="/3/0/13")
    assert 1800000000 <= int(now["result"]) <= 1800000005

    for path, value, urc in [
        ("/11/0/1", "iot.example", '"apn_changed","iot.example"'),
        ("/11/0/5", "alice", '"user_name_changed","alice"'),
        ("/11/0/6", "s3cret", '"secret_changed","s3cret"'),
        ("/11/0/4", "1", '"authentication_type_changed",1'),
    ]:
        answer = await node_server.command("write", ep=EP, path=path, value=value)
        assert answer["ok"], (path, answer)
        await module.wait_urc(urc, since=before)
    # The APN profile is the module's PDP context: the host sees it in AT+QICSGP.
    assert (await module.at("AT+QICSGP=1"))[0] == '+QICSGP: 1,"iot.example","alice","s3cret",2'

    refused = await node_server.command("write", ep=EP, path="/3/0/0", value="Other")
    assert refused["ok"] is False  # 4.05: Manufacturer is read-only


async def test_urc_switch_silences(make_module: ModuleFactory, node_server: NodeServer) -> None:
    module = await make_module()
    assert (await module.at('AT+QLWCFG="urc",0'))[-1] == "OK"
    addr = f"coap://127.0.0.1:{node_server.port}"
    await module.at(f'AT+QLWCFG="security",1,1000,"{addr}",0,3')
    await module.at("AT+QLWREG")
    await node_server.event("registration")
    await module.wait_stat(2)
    answer = await node_server.command("write", ep=EP, path="/1/0/1", value="300")
    assert answer["ok"]
    await node_server.event("update")
    assert module.urcs() == []


async def test_observe_notifies_changes(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    module = await make_module()
    await register(module, node_server)
    attrs = await node_server.command(
        "writeAttributes", ep=EP, path="/4/0/2", attributes={"pmin": 0, "pmax": 30}
    )
    assert attrs["ok"], attrs
    first = await node_server.command("observe", ep=EP, path="/4/0/2")
    assert first["result"] == "-65"
    assert module.host is not None
    module.host.apply(lambda now: module.module.set_signal(10, now))
    notification = await node_server.event("notification")
    assert notification["value"] == str(-113 + 20)
    module.host.apply(lambda now: module.module.set_signal(31, now))
    notification = await node_server.event("notification")
    assert notification["value"] == "-51"
    # Cancel (lwm2m-node-lib sends the pre-1.0 "cancel" attribute): no more notifications.
    cancelled = await node_server.command("cancel", ep=EP, path="/4/0/2")
    assert cancelled["ok"], cancelled
    module.host.apply(lambda now: module.module.set_signal(5, now))
    await asyncio.sleep(0.3)  # a notification would arrive within milliseconds
    assert not [e for e in node_server.seen if e.get("event") == "notification"][2:]


async def test_execute_reboot_restarts_the_module(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    module = await make_module()
    await register(module, node_server)
    assert module.lines.count("RDY") == 1
    answer = await node_server.command("execute", ep=EP, path="/3/0/4")
    assert answer["ok"], answer
    await module._until(lambda: module.lines.count("RDY") == 2, 5, "second RDY")
    await module.wait_line("+QIND: PB DONE")
    await module._until(lambda: module.lines.count("+QIND: PB DONE") == 2, 5, "boot end")
    assert await module.stat() == 0  # startup is 0: the client stays down after the restart
    # The server line had storing 1: the configuration survived the restart.
    lines = await module.at('AT+QLWCFG="security"')
    assert lines[0] == f'+QLWCFG: "security",1,1000,"coap://127.0.0.1:{node_server.port}",0,3'


async def test_deregister(make_module: ModuleFactory, node_server: NodeServer) -> None:
    module = await make_module()
    await register(module, node_server)
    before = len(module.urcs())
    assert await module.at("AT+QLWDEREG") == ["OK"]
    await module.wait_urc('"deregister",1000,0', since=before)
    gone = await node_server.event("unregistration")
    assert gone["ep"] == EP
    assert await module.stat() == 0
    assert (await module.at("AT+QLWDEREG"))[-1] == "+CME ERROR: 3"
    listed = await node_server.command("list")
    assert listed["result"] == []


async def test_configuration_survives_a_restart_and_startup_registers(
    make_module: ModuleFactory, node_server: NodeServer, tmp_path: Path
) -> None:
    """storing 1 keeps the server account in the module's NV file; with "startup",1 the
    module registers by itself after AT+CFUN=1,1 and after the emulator itself restarts."""
    state = tmp_path / f"{EP}.json"
    module = await make_module(nv=FileNvStore(state))
    assert (await module.at('AT+QLWCFG="startup",1'))[-1] == "OK"
    await register(module, node_server)
    assert (await module.at("AT+CFUN=1,1"))[-1] == "OK"
    again = await node_server.event("registration", timeout=5)
    assert again["ep"] == EP
    await module.wait_stat(2)
    await module.stop()
    # A new process: a new module on the same state file.
    revived = await make_module(nv=FileNvStore(state))
    third = await node_server.event("registration", timeout=5)
    assert third["ep"] == EP
    await revived.wait_urc('"ready","successfully",1000')


async def test_read_whole_device_object(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    """Read of /3/0 in TLV (the 1.0 default) and in LwM2M JSON, through node-coap."""
    module = await make_module()
    await register(module, node_server)
    tlv = await node_server.command("request", ep=EP, path="/3/0")
    assert tlv["result"]["code"] == "2.05"
    assert tlv["result"]["format"] == "application/vnd.oma.lwm2m+tlv"
    device = codec.decode(
        base64.b64decode(tlv["result"]["payload"]), 11542, LwM2MPath(3, 0), default_registry()
    )
    assert isinstance(device, ObjectInstance)
    assert device.resources[0] == SingleResource(0, "Quectel")
    assert device.resources[16] == SingleResource(16, "UQ")
    as_json = await node_server.command(
        "request", ep=EP, path="/3/0", accept="application/vnd.oma.lwm2m+json"
    )
    document = json.loads(base64.b64decode(as_json["result"]["payload"]))
    values = {document.get("bn", "") + e["n"]: e.get("sv", e.get("v")) for e in document["e"]}
    assert values["/3/0/1"] == "EC200U"
    assert values["/3/0/3"] == "EC200UCNAAR03A15M08"
    discover = await node_server.command(
        "request", ep=EP, path="/3/0", accept="application/link-format"
    )
    links = base64.b64decode(discover["result"]["payload"]).decode()
    assert links.startswith("</3/0>,</3/0/0>,")
