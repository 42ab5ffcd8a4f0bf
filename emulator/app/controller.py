"""A controller of ``serve --mqtt`` fleets over the broker (what ``quecemu ctl`` uses; tests
and benchmarks too): send AT lines and controls to modules by IMEI, read their retained
status, watch the event stream.

    async with Controller(BrokerAddress("127.0.0.1", 1883)) as ctl:
        answer = await ctl.at("869339060001965", "AT+CSQ")
        await ctl.control("869339060001965", "signal", rssi=5)

Requests carry a fresh ``id``; the answer is the response with that id. A module that does
not answer in time raises :class:`NoAnswer`, which says whether any serve process announced
that IMEI (its retained status): an unknown IMEI is told apart from a slow or vanished one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any, Final

import aiomqtt

from emulator.adapters.controlplane import NO_DELAY, BrokerAddress
from emulator.controlplane.schema import DEFAULT_AT_TIMEOUT, SCHEMA_VERSION, Topics

STATUS_WAIT: Final = 1.0  # seconds to wait for a retained status (the broker sends it at once)
ANSWER_MARGIN: Final = 5.0  # seconds beyond the request's own timeout


class ControllerError(Exception):
    """The controller cannot get an answer (the message says why)."""


class NoAnswer(ControllerError):
    pass


class Controller:
    def __init__(self, broker: BrokerAddress, prefix: str = "quecemu") -> None:
        self.broker = broker
        self.topics = Topics(prefix)
        self._ids = itertools.count(1)
        self._tag = f"ctl-{os.getpid()}-{id(self):x}"
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Controller:
        try:
            self._client = await self._stack.enter_async_context(
                aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self._tag,
                    socket_options=NO_DELAY,
                )
            )
            # Many requests in flight at once are the point of a controller, not a warning.
            self._client.pending_calls_threshold = 1_000_000
        except aiomqtt.MqttError as exc:
            await self._stack.aclose()
            raise ControllerError(f"cannot reach the MQTT broker {self.broker}: {exc}") from None
        prefix = self.topics.prefix
        await self._client.subscribe(
            [(f"{prefix}/+/at/response", 1), (f"{prefix}/+/control/response", 1)]
        )
        self._reader = asyncio.create_task(self._read(self._client))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        await self._stack.aclose()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            body = _json(message.payload)
            if body is None:
                continue
            future = self._waiting.get(str(body.get("id")))
            if future is not None and not future.done():
                future.set_result(body)

    def _need_client(self) -> aiomqtt.Client:
        if self._client is None:
            raise ControllerError("the controller is not connected (use 'async with')")
        return self._client

    async def request(
        self, imei: str, kind: str, fields: dict[str, Any], *, wait: float
    ) -> dict[str, Any]:
        """Publish a request and return its response (raises NoAnswer)."""
        client = self._need_client()
        request_id = f"{self._tag}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            body = {"v": SCHEMA_VERSION, "id": request_id, **fields}
            await client.publish(self.topics.request(imei, kind), json.dumps(body), qos=1)
            try:
                return await asyncio.wait_for(future, wait)
            except TimeoutError:
                raise NoAnswer(await self._why_silent(imei, wait)) from None
        finally:
            self._waiting.pop(request_id, None)

    async def raw_request(
        self, imei: str, kind: str, payload: bytes, *, wait: float
    ) -> dict[str, Any]:
        """Publish ``payload`` as it is (bad input tests) and return the first response."""
        client = self._need_client()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting["None"] = future
        try:
            await client.publish(self.topics.request(imei, kind), payload, qos=1)
            return await asyncio.wait_for(future, wait)
        finally:
            self._waiting.pop("None", None)

    async def _why_silent(self, imei: str, waited: float) -> str:
        status = await self.status(imei)
        if status is None:
            return (
                f"no module with IMEI {imei} under '{self.topics.prefix}': no serve process "
                "announced it (no retained status)"
            )
        if not status.get("online", False):
            return f"module {imei} is offline (its serve process {status.get('instance')} stopped)"
        return (
            f"module {imei} (serve process {status.get('instance')}) did not answer in {waited:g} s"
        )

    async def at(
        self, imei: str, line: str, *, data: str | None = None, timeout: float = DEFAULT_AT_TIMEOUT
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"line": line, "timeout": timeout}
        if data is not None:
            fields["data"] = data
        return await self.request(imei, "at", fields, wait=timeout + ANSWER_MARGIN)

    async def control(self, imei: str, name: str, **fields: Any) -> dict[str, Any]:
        return await self.request(
            imei, "control", {"control": name, **fields}, wait=ANSWER_MARGIN * 2
        )

    async def status(self, imei: str, *, wait: float = STATUS_WAIT) -> dict[str, Any] | None:
        """The module's retained status, or None when no process announced that IMEI."""
        watching = self.watch([self.topics.status(imei)], duration=wait, count=1)
        async with contextlib.aclosing(watching):  # disconnect now, not at loop shutdown
            async for _, body in watching:
                return body
        return None

    async def watch(
        self, filters: list[str], *, duration: float | None = None, count: int | None = None
    ) -> AsyncGenerator[tuple[str, dict[str, Any]]]:
        """(topic, payload) of messages on ``filters``, on a connection of their own."""
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=f"{self._tag}-w{next(self._ids)}",
            socket_options=NO_DELAY,
        )
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        seen = 0
        try:
            async with client:
                await client.subscribe([(f, 0) for f in filters])
                iterator = client.messages.__aiter__()
                while count is None or seen < count:
                    left = None if deadline is None else deadline - loop.time()
                    if left is not None and left <= 0:
                        return
                    try:
                        message = await asyncio.wait_for(iterator.__anext__(), left)
                    except TimeoutError:
                        return
                    body = _json(message.payload)
                    if body is None:
                        continue
                    seen += 1
                    yield str(message.topic), body
        except aiomqtt.MqttError as exc:
            raise ControllerError(f"lost the MQTT broker {self.broker}: {exc}") from None


def _json(payload: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(payload if isinstance(payload, bytes | str) else b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
