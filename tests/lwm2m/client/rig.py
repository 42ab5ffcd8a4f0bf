"""The sans-I/O client on a fake clock, with the test playing the adapter and the server.

``Rig`` owns a real VirtualModule (AT engine included) and its LwM2M client; time moves only
when the test says so. Actions the client queues are collected in ``actions``; the test
answers them (``prepared``, ``respond``, ``fail``) as the aiocoap adapter would.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from emulator.commands.lwm2m import client_for
from emulator.lwm2m.client.client import LwM2MClient
from emulator.lwm2m.client.events import ClientWork, LwM2MNotice
from emulator.lwm2m.client.messages import (
    Action,
    CoapRequest,
    CoapResponse,
    Handshake,
    PrepareSession,
    SendRequest,
)
from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import ModuleProfile
from emulator.module.virtual import VirtualModule

from .harness import FAST, lwm2m_profile

A = TypeVar("A", bound=Action)
EPOCH = 1_700_000_000.0


class Rig:
    def __init__(
        self, profile: ModuleProfile | None = None, *, nv: NvStore | None = None, **lwm2m: Any
    ) -> None:
        self.now = 1000.0
        self.nv = nv if nv is not None else MemoryNvStore()
        self.module = VirtualModule(
            profile or lwm2m_profile(**{**FAST, **lwm2m}),
            now=self.now,
            nv=self.nv,
            wall_clock_offset=EPOCH - self.now,
        )
        self.client: LwM2MClient = client_for(self.module)
        self.actions: list[Action] = []
        self.notices: list[LwM2MNotice] = []  # what the core reported, typed (the URCs' source)
        self.text = ""
        self.advance(1.0)  # boot
        self.at("ATE0")

    # --------------------------------------------------------------- the loop
    def pump(self) -> None:
        while True:
            progressed = False
            while (event := self.module.next_event()) is not None:
                progressed = True
                if isinstance(event, LwM2MNotice):
                    self.notices.append(event)
                if not isinstance(event, ClientWork):
                    self.client.on_module_event(event, self.now)
            while (action := self.client.next_action()) is not None:
                progressed = True
                self.actions.append(action)
            data = self.module.data_to_send()
            if data:
                progressed = True
                self.text += data.decode("ascii", "replace")
            if not progressed:
                return

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        self.pump()
        while (when := self.module.get_timer()) is not None and when <= end:
            self.now = max(self.now, when)
            self.module.handle_timer(self.now)
            self.pump()
        self.now = end
        self.pump()

    # ---------------------------------------------------------------- the host
    def at(self, line: str) -> list[str]:
        start = len(self.text)
        self.module.receive_data(line.encode("ascii") + b"\r", self.now)
        self.pump()
        self.advance(0.0)
        lines = [x.strip("\r") for x in self.text[start:].split("\r\n")]
        # With echo on (the power-on default) the echoed line comes first.
        return [x for x in lines if x and not x.startswith(("+QLWURC", line))]

    def urcs(self) -> list[str]:
        return re.findall(r"\+QLWURC: [^\r]*", self.text)

    def urc_names(self) -> list[str]:
        return [re.match(r'\+QLWURC: "([^"]*)"', u).group(1) for u in self.urcs()]  # type: ignore[union-attr]

    def stat(self) -> int:
        return self.client.stat()

    # ---------------------------------------------------------- the adapter
    def take(self, kind: type[A]) -> A:
        for index, action in enumerate(self.actions):
            if isinstance(action, kind):
                del self.actions[index]
                return action
        raise AssertionError(f"no {kind.__name__} among {self.actions}")

    def has(self, kind: type[Action]) -> bool:
        return any(isinstance(a, kind) for a in self.actions)

    def prepared(self, error: str | None = None) -> PrepareSession:
        action = self.take(PrepareSession)
        self.client.session_prepared(action.server_id, action.attempt, self.now, error=error)
        self.pump()
        return action

    def handshake(self, error: str | None = None) -> Handshake:
        action = self.take(Handshake)
        self.client.handshake_done(action.server_id, action.attempt, self.now, error=error)
        self.pump()
        return action

    def request(self) -> SendRequest:
        return self.take(SendRequest)

    def respond(self, code: int, location: tuple[str, ...] = ()) -> SendRequest:
        action = self.take(SendRequest)
        self.client.response_received(
            action.request_id, CoapResponse(code=code, location_path=location), self.now
        )
        self.pump()
        return action

    def fail(self, reason: str = "retransmissions exceeded") -> SendRequest:
        action = self.take(SendRequest)
        self.client.request_failed(action.request_id, reason, self.now)
        self.pump()
        return action

    def server_request(self, request: CoapRequest, server_id: int | None = 1) -> CoapResponse:
        response = self.client.handle_request(server_id, request, self.now)
        self.pump()
        return response

    # ------------------------------------------------------------- shortcuts
    def configure(
        self, *, lifetime: int = 60, binding: str = "U", storing: int = 1, disable_timeout: int = 30
    ) -> None:
        assert self.at('AT+QLWCFG="security",1,1000,"coap://192.0.2.1:5683",0,3') == ["OK"]
        line = f'AT+QLWCFG="server",1,{lifetime},1,60,{disable_timeout},{storing},"{binding}"'
        assert self.at(line) == ["OK"]

    def register(self, **configure: Any) -> SendRequest:
        self.configure(**configure)
        assert self.at("AT+QLWREG") == ["OK"]
        self.prepared()
        return self.respond(0x41, ("rd", "r1"))
