"""``quecemu server --http``: Leshan 2.x's demo REST API and events over real HTTP, against the
embedded server and aiocoap devices over real UDP. What a curl script or dashboard written for
Leshan sees: status codes, JSON shapes, event names, error messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiocoap import resource

from emulator.adapters.lwm2m_server import Awake, LwM2MServer, Sleeping
from emulator.adapters.lwm2m_server.rest import RunningHttp, start_http
from emulator.lwm2m.paths import LwM2MPath
from scenario_tool.http import BaseUrl, EventStream, SseEvent

from .aiocoap_device import AiocoapDevice
from .conftest import DeviceFactory

EP = "urn:imei:860000000000001"


@pytest.fixture
async def http(server: LwM2MServer) -> AsyncIterator[RunningHttp]:
    running = await start_http(server, "127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api(http: RunningHttp) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Api(session, http.url)


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(
        self, method: str, target: str, body: Any = None, *, raw: bytes | None = None, **query: str
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with self.session.request(
            method, self.url + target, data=data, params=query or None
        ) as answer:
            text = await answer.text()
            if answer.content_type == "application/json":
                return answer.status, json.loads(text)
            return answer.status, text


class Events:
    """An SSE reader on /api/event (our LeshanDriver's client side)."""

    def __init__(self, url: str, endpoint: str | None = None) -> None:
        target = "/api/event" + (f"?ep={endpoint}" if endpoint else "")
        self.stream = EventStream(BaseUrl.parse(url), target)
        self.queue: asyncio.Queue[SseEvent] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Events:
        assert await self.stream.open(5) == 200

        async def pump() -> None:
            async for event in self.stream.events():
                self.queue.put_nowait(event)

        self.task = asyncio.create_task(pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await self.stream.close()

    async def next(self, name: str, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if event.event == name:
                    data: dict[str, Any] = json.loads(event.data)
                    return data


@pytest.fixture
async def device(make_device: DeviceFactory) -> AiocoapDevice:
    device = await make_device(EP, lwm2m="1.1")
    await device.register()
    return device


async def test_clients_are_listed_in_leshans_shape(api: Api, device: AiocoapDevice) -> None:
    status, clients = await api.call("GET", "/api/clients")
    assert status == 200 and [c["endpoint"] for c in clients] == [EP]
    status, client = await api.call("GET", f"/api/clients/{EP}")
    assert status == 200
    assert client["lwM2mVersion"] == "1.1" and client["lifetime"] == 300
    assert client["bindingMode"] == ["U"] and client["queuemode"] is False
    assert {"url": "/3/0", "attributes": {}} in client["objectLinks"]
    assert client["secure"] is False and "registrationId" in client
    status, text = await api.call("GET", "/api/clients/nobody")
    assert (status, text) == (400, "no registered client with id 'nobody'")


@pytest.mark.parametrize("fmt", ["TLV", "JSON", "SENML_JSON", None])
async def test_read_an_instance_in_each_format(
    api: Api, device: AiocoapDevice, fmt: str | None
) -> None:
    target = f"/api/clients/{EP}/3/0" + (f"?format={fmt}" if fmt else "")
    status, answer = await api.call("GET", target)
    assert status == 200 and answer["status"] == "CONTENT" and answer["success"] is True
    content = answer["content"]
    assert content["kind"] == "instance" and content["id"] == 0
    resources = {r["id"]: r for r in content["resources"]}
    assert resources[1] == {"kind": "singleResource", "id": 1, "type": "STRING", "value": "EC200U"}
    # Time in epoch milliseconds, as Leshan writes a java.util.Date.
    assert resources[13]["type"] == "TIME" and resources[13]["value"] == 1_700_000_000_000


@pytest.mark.parametrize("fmt", ["TEXT", "CBOR", "TLV", "SENML_JSON"])
async def test_read_a_resource_in_each_format(api: Api, device: AiocoapDevice, fmt: str) -> None:
    status, answer = await api.call("GET", f"/api/clients/{EP}/1/0/1", format=fmt)
    assert status == 200
    assert answer["content"] == {
        "kind": "singleResource", "id": 1, "type": "INTEGER", "value": "300"
    }  # fmt: skip


async def test_writes_single_instance_replace_and_partial(api: Api, device: AiocoapDevice) -> None:
    node = {"id": 13, "kind": "singleResource", "type": "TIME", "value": 1_600_000_000_000}
    status, answer = await api.call("PUT", f"/api/clients/{EP}/3/0/13", node)
    assert (status, answer["status"]) == (200, "CHANGED")
    assert device.store.read(LwM2MPath.parse("/3/0/13")).value == 1_600_000_000  # type: ignore[union-attr]
    # 1.x-style body: no kind/type, numbers as JSON numbers; types from the definitions.
    status, answer = await api.call(
        "PUT", f"/api/clients/{EP}/1/0", {"id": 0, "resources": [{"id": 1, "value": 120}]},
        replace="false", format="TLV",
    )  # fmt: skip
    assert (status, answer["status"]) == (200, "CHANGED")
    assert device.store.read(LwM2MPath.parse("/1/0/1")).value == 120  # type: ignore[union-attr]
    assert device.store.read(LwM2MPath.parse("/1/0/7")).value == "U"  # type: ignore[union-attr]
    seen = [await device.seen.get() for _ in range(device.seen.qsize())]
    assert [s.method for s in seen] == ["PUT", "POST"]  # replace, then partial update


async def test_bad_writes_get_400_with_the_reason(api: Api, device: AiocoapDevice) -> None:
    target = f"/api/clients/{EP}/1/0/1"
    status, text = await api.call("PUT", target, raw=b"{not json")
    assert status == 400 and "malformed JSON" in text
    status, text = await api.call("PUT", target, {"id": 1, "value": "many", "type": "INTEGER"})
    assert status == 400 and "'many' is not a valid integer" in text
    status, text = await api.call("PUT", target, {"id": 1, "value": True})
    assert status == 400 and "a JSON string (or integral number) is expected" in text
    status, text = await api.call("PUT", target, {"id": 2, "value": "1"})
    assert status == 400 and "does not match" in text
    status, text = await api.call("PUT", f"/api/clients/{EP}/3/x", {"id": 1, "value": 1})
    assert status == 400 and "invalid path" in text
    status, text = await api.call("GET", f"/api/clients/{EP}/3/0", format="XML")
    assert status == 400 and "unknown content format 'XML'" in text
    status, _ = await api.call("GET", "/api/nothing")
    assert status == 404
    assert device.seen.empty()  # nothing reached the device


async def test_a_device_error_is_200_with_leshans_failure_shape(
    api: Api, device: AiocoapDevice
) -> None:
    status, answer = await api.call("GET", f"/api/clients/{EP}/3/7")
    assert status == 200
    assert answer["status"] == "NOT_FOUND" and answer["failure"] is True
    assert answer["errormessage"]


async def test_execute_discover_attributes_create_delete(api: Api, device: AiocoapDevice) -> None:
    status, answer = await api.call("POST", f"/api/clients/{EP}/3/0/4", raw=b"")
    assert (status, answer["status"]) == (200, "CHANGED")
    status, answer = await api.call("PUT", f"/api/clients/{EP}/3/0/13/attributes?pmin=1&pmax=10")
    assert (status, answer["status"]) == (200, "CHANGED")
    status, answer = await api.call("GET", f"/api/clients/{EP}/3/0/discover")
    assert status == 200 and answer["status"] == "CONTENT"
    assert {"url": "/3/0/13", "attributes": {"pmin": "1", "pmax": "10"}} in answer["objectLinks"]
    status, text = await api.call("PUT", f"/api/clients/{EP}/3/0/13/attributes?colour=red")
    assert status == 400 and "colour" in text
    instance = {"kind": "instance", "id": 5, "resources": [
        {"kind": "singleResource", "id": 0, "type": "STRING", "value": "cmnet"},
        {"kind": "singleResource", "id": 4, "type": "INTEGER", "value": "0"}]}  # fmt: skip
    status, answer = await api.call("POST", f"/api/clients/{EP}/11", instance)
    assert (status, answer["status"], answer["location"]) == (200, "CREATED", "/11/5")
    status, answer = await api.call("DELETE", f"/api/clients/{EP}/11/5")
    assert (status, answer["status"]) == (200, "DELETED")
    status, _ = await api.call("PATCH", f"/api/clients/{EP}/3/0")
    assert status == 405


async def test_observe_notifications_and_cancel(
    api: Api, http: RunningHttp, device: AiocoapDevice
) -> None:
    async with Events(http.url) as events:
        status, answer = await api.call("POST", f"/api/clients/{EP}/3/0/14/observe", format="TEXT")
        assert status == 200 and answer["content"]["value"] == "+00"
        status, answer = await api.call("POST", f"/api/clients/{EP}/3/0/14/observe", format="TEXT")
        assert status == 200  # observing again replaces the observation
        assert len(http.face.server.observations(EP)) == 1
        device.set_value("/3/0/14", "+02")
        note = await events.next("NOTIFICATION")
        assert (note["ep"], note["res"], note["val"]["value"]) == (EP, "/3/0/14", "+02")
        status, answer = await api.call("DELETE", f"/api/clients/{EP}/3/0/14/observe?active")
        assert status == 200 and answer["status"] == "CONTENT"
        assert await asyncio.wait_for(device.cancelled_observations.get(), 10) or True


async def test_registration_events_and_the_coap_log(
    http: RunningHttp, make_device: DeviceFactory
) -> None:
    async with Events(http.url) as everything, Events(http.url, "ep-log") as one:
        device = await make_device("ep-log")
        await device.register()
        registration = await everything.next("REGISTRATION")
        assert registration["endpoint"] == "ep-log"
        log = await one.next("COAPLOG")
        assert log["incoming"] is True and log["code"] == "POST" and log["ep"] == "ep-log"
        assert "Uri-Path: /rd" in log["options"]
        await device.update()
        updated = await everything.next("UPDATED")
        assert updated["registration"]["endpoint"] == "ep-log"
        await device.deregister()
        assert (await everything.next("DEREGISTRATION"))["endpoint"] == "ep-log"
        # COAPLOG goes only to streams filtered by endpoint (as in Leshan).
        assert all(e.event != "COAPLOG" for e in everything.queue._queue)  # type: ignore[attr-defined]


async def test_a_silent_device_is_a_504(api: Api, device: AiocoapDevice) -> None:
    await device.close()
    status, text = await api.call("GET", f"/api/clients/{EP}/3/0", timeout="1")
    assert status == 504 and "Request timeout" in text and EP in text


async def test_psk_keys_are_write_only(api: Api, server: LwM2MServer) -> None:
    entry = {"endpoint": "dev1", "tls": {"mode": "psk",
             "details": {"identity": "dev1-id", "key": "00112233"}}}  # fmt: skip
    status, _ = await api.call("PUT", "/api/security/clients", entry)
    assert status == 200
    credentials = server.credentials.get("dev1")
    assert credentials is not None and credentials.key == bytes.fromhex("00112233")
    status, listed = await api.call("GET", "/api/security/clients")
    identity_only = {"mode": "psk", "details": {"identity": "dev1-id"}}
    assert listed == [{"endpoint": "dev1", "tls": identity_only}]
    assert "00112233" not in json.dumps(listed)
    bad = {"endpoint": "dev2", "psk": {"identity": "x", "key": "zz"}}
    status, text = await api.call("PUT", "/api/security/clients/", bad)
    assert status == 400 and "not hex" in text
    status, _ = await api.call("DELETE", "/api/security/clients/dev1")
    assert status == 200 and server.credentials.get("dev1") is None


async def test_bootstrap_configurations(api: Api, server: LwM2MServer) -> None:
    config = {
        "toDelete": ["/0", "/1"],
        "servers": {"0": {"shortId": 3, "lifetime": 600, "binding": ["U"]}},
        "security": {"1": {"uri": "coaps://127.0.0.1:5684", "bootstrapServer": False,
                           "securityMode": "PSK", "publicKeyOrId": [105, 100],
                           "secretKey": [1, -1], "serverId": 3}},
    }  # fmt: skip
    status, _ = await api.call("POST", "/api/bootstrap/dev9", config)
    assert status == 200
    account = server.bootstrap_configs["dev9"].servers[0]
    assert (account.short_server_id, account.lifetime, account.psk_key) == (3, 600, b"\x01\xff")
    status, shown = await api.call("GET", "/api/bootstrap/dev9")
    assert shown["security"]["1"]["uri"] == "coaps://127.0.0.1:5684"
    assert "secretKey" not in shown["security"]["1"]
    status, text = await api.call("POST", "/api/bootstrap/dev9", {"servers": {"0": {}}})
    assert status == 400 and "shortId" in text
    status, _ = await api.call("DELETE", "/api/bootstrap/dev9")
    assert status == 200 and "dev9" not in server.bootstrap_configs


async def test_queue_mode_answers_delayed_then_request_response() -> None:
    server = await LwM2MServer.start(coap=("127.0.0.1", 0), awake_time=0.3, request_timeout=5)
    http = await start_http(server, "127.0.0.1", 0)
    sleeper = AiocoapDevice("sleeper", binding="UQ")
    await sleeper.start(f"coap://127.0.0.1:{server.coap_port}")
    try:
        async with (
            aiohttp.ClientSession() as session,
            Events(http.url) as events,
        ):
            with server.subscribe() as sub:
                await sleeper.register()
                await sub.wait_for(lambda e: isinstance(e, Sleeping), timeout=10)
            assert (await events.next("SLEEPING"))["ep"] == "sleeper"
            api = Api(session, http.url)
            status, answer = await api.call("GET", "/api/clients/sleeper/3/0/1", format="TEXT")
            assert status == 200 and answer["delayed"] is True
            request_id = answer["requestId"]
            assert sleeper.seen.empty()  # held until the device wakes up
            with server.subscribe() as sub:
                await sleeper.update()
                await sub.wait_for(lambda e: isinstance(e, Awake), timeout=10)
            assert (await events.next("AWAKE"))["ep"] == "sleeper"
            response = await events.next("REQUEST_RESPONSE")
            assert response["requestId"] == request_id
            assert response["response"]["content"]["value"] == "EC200U"
    finally:
        await sleeper.close()
        await http.stop()
        await server.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("delayed")]


async def test_a_reader_that_drops_the_stream_is_forgotten(http: RunningHttp) -> None:
    async with Events(http.url):
        assert len(http.face.hub.readers) == 1
    async with asyncio.timeout(20):  # the server notices the closed connection
        while http.face.hub.readers:
            await asyncio.sleep(0.05)
    tasks = [t for t in asyncio.all_tasks() if "_events" in repr(t.get_coro())]
    assert not tasks


async def test_the_coap_log_never_shows_a_psk(
    http: RunningHttp, server: LwM2MServer, make_device: DeviceFactory
) -> None:
    key = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    config = {
        "servers": {"0": {"shortId": 1, "lifetime": 300, "binding": ["U"]}},
        "security": {"1": {"uri": "coaps://127.0.0.1:5684", "securityMode": "PSK",
                           "publicKeyOrId": list(b"boot-id"), "secretKey": key, "serverId": 1}},
    }  # fmt: skip
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{http.url}/api/bootstrap/booting", json=config) as answer,
    ):
        assert answer.status == 200
    async with Events(http.url, "booting") as log, Events(http.url) as everything:
        device = await make_device("booting")
        assert (await device.bootstrap_request()).code.is_successful()
        finished = await everything.next("BSSESSION")
        assert finished["name"] == "new"
        assert (await everything.next("BSSESSION"))["name"] == "finished"
        lines: list[dict[str, Any]] = []
        while not any("bs" in line["options"] and not line["incoming"] for line in lines):
            lines.append(await log.next("COAPLOG"))  # up to the Bootstrap-Finish
        shown = json.dumps(lines)
        assert "Uri-Path: /0/1" in shown and "Security object content hidden" in shown
        assert key not in shown and bytes.fromhex(key).decode("latin-1") not in shown


async def test_leshan_driver_speaks_to_it_with_a_token(
    server: LwM2MServer, make_device: DeviceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenario_tool.driver import Registered
    from scenario_tool.leshan import LeshanDriver

    http = await start_http(server, "127.0.0.1", 0, token="t0ken")
    monkeypatch.setenv("QUECEMU_HTTP_TOKEN", "t0ken")
    driver = LeshanDriver(http.url, coap_host="127.0.0.1", coap_port=server.coap_port)
    try:
        await driver.start()
        assert driver.api == "2"
        device = await make_device(EP)
        await device.register()
        event = await driver.events.take(Registered, EP, 10)
        assert event.registration is not None and event.registration.lifetime == 300
        read = await driver.read(EP, "/3/0", content_format=None, timeout=5)
        assert read.code == "2.05" and read.value[13] == 1_700_000_000  # type: ignore[index]
        write = await driver.write(EP, "/3/0/13", 1_650_000_000, None, content_format=None,
                                   timeout=5)  # fmt: skip
        assert write.code == "2.04"
        assert device.store.read(LwM2MPath.parse("/3/0/13")).value == 1_650_000_000  # type: ignore[union-attr]
    finally:
        await driver.close()
        await http.stop()


async def test_a_token_guards_the_api(server: LwM2MServer) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        await start_http(server, "0.0.0.0", 0)
    http = await start_http(server, "127.0.0.1", 0, token="s3cret")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(http.url + "/api/clients") as answer:
                assert answer.status == 401
            headers = {"Authorization": "Bearer s3cret"}
            async with session.get(http.url + "/api/clients", headers=headers) as answer:
                assert answer.status == 200
            async with session.get(http.url + "/") as answer:
                assert answer.status == 200  # the page itself holds no data
    finally:
        await http.stop()


async def test_a_reader_too_slow_for_the_events_is_cut_off_not_buffered() -> None:
    from emulator.adapters.lwm2m_server.rest import STREAM_BACKLOG, EventHub

    hub = EventHub()
    slow, other = hub.add(None), hub.add("someone")
    for index in range(STREAM_BACKLOG + 5):
        hub.publish("AWAKE", {"ep": f"ep{index}"}, f"ep{index}")
    assert slow not in hub.readers and other in hub.readers
    assert slow.queue.qsize() <= STREAM_BACKLOG
    items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert items[-1] is None  # the stream ends there; its handler closes the connection


async def test_a_caller_that_hangs_up_mid_request_leaves_no_task(
    http: RunningHttp, device: AiocoapDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http.face.server
    original = server.read
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def watched_read(*args: Any, **kwargs: Any) -> Any:
        started.set()
        try:
            return await original(*args, **kwargs)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(server, "read", watched_read)

    class Silent(resource.Resource):  # type: ignore[misc]
        async def render(self, request: Any) -> Any:
            await asyncio.Event().wait()  # never answers (nor refuses)

    assert device.context is not None
    device.context.serversite = Silent()
    async with aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(
            session.get(f"{http.url}/api/clients/{EP}/3/0", params={"timeout": "30"})
        )
        await asyncio.wait_for(started.wait(), 10)  # waiting on the device now
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await request
    # aiohttp cancels the handler once the connection is gone: the device request ends too,
    # long before its 30 s timeout.
    await asyncio.wait_for(cancelled.wait(), 10)


async def test_requests_held_for_a_sleeping_client_are_bounded() -> None:
    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0), awake_time=0.3, request_timeout=5, max_queued_requests=7
    )
    http = await start_http(server, "127.0.0.1", 0)
    sleeper = AiocoapDevice("sleeper", binding="UQ")
    await sleeper.start(f"coap://127.0.0.1:{server.coap_port}")
    try:
        with server.subscribe() as sub:
            await sleeper.register()
            await sub.wait_for(lambda e: isinstance(e, Sleeping), timeout=10)
        async with aiohttp.ClientSession() as session:
            api = Api(session, http.url)
            for _ in range(7):
                status, answer = await api.call("GET", "/api/clients/sleeper/3/0/1")
                assert status == 200 and answer["delayed"] is True
            status, text = await api.call("GET", "/api/clients/sleeper/3/0/1")
            assert status == 503 and "wait for 'sleeper' to wake up" in text
    finally:
        await sleeper.close()
        await http.stop()
        await server.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("delayed")]


def test_the_cli_refuses_a_public_address_without_a_token() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "QUECEMU_HTTP_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "server", "--coap", "127.0.0.1:0",
         "--http", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "is not a loopback address: set a bearer token" in done.stderr
    assert "Traceback" not in done.stderr
