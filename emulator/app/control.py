"""``quecemu serve --control``: the network side of the modules on stdin and stdout.

Lines in (one command per line)::

    sms <module> <sender> <text...>      deliver an SMS; <text> is the rest of the line,
                                         or a JSON string ("line 1\\nline 2") when quoted
    sms-reject <module> <err>|off        the network refuses what the module sends:
                                         AT+CMGS answers +CMS ERROR: <err> (until off)
    port <module> pty|tcp                give the module an AT port now (a --headless
                                         module has none): answered "port 5 pty /dev/pts/9"
                                         or "port 5 tcp 127.0.0.1:40123"
    port-close <module>                  close the module's AT ports (it runs on headless)
    power-on <module>                    the power key: a module that AT+QPOWD switched
                                         off boots again
    coverage <module> on|off             the module gains / loses the cell (+CEREG, its
                                         PDP contexts, sockets and MQTT links follow)
    pdp-deactivate <module> [<cid>]      the network tears the PDP context(s) down
                                         (+QIURC: "pdpdeact", +QMTSTAT, NO CARRIER)
    stats                                LwM2M status counts, failures, descriptors and the
                                         event loop's lag since the last stats line
    help

Lines out (stdout, one per event)::

    sms delivered 0 +8613912345678 stored SM 3      (per part: stored / direct / rejected ...)
    sms sent 0 +8613700001111 "Hello"                (the module sent an SMS: TP-DA, JSON text)
    stats modules=10000 registered=9998 registering=0 failed=2 ... lag_p99_ms=3.2
    coverage 0 off                                   (a world control carried out)

A line that cannot be carried out is answered on stderr with the reason; serving goes on.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.app.serve import Emulator, ServedModule
from emulator.controlplane import controls
from emulator.module.events import ModuleEvent
from emulator.sms.events import SmsSent
from emulator.sms.pdu import Alphabet

HELP = (
    "control lines: 'sms <module> <sender> <text>' delivers an SMS (text: the rest of the "
    "line, or a JSON string in double quotes); 'sms-reject <module> <err>|off' makes the "
    "network refuse what the module sends; 'port <module> pty|tcp' gives the module an AT "
    "port; 'port-close <module>' closes it; 'stats' counts the fleet; 'power-on <module>', "
    "'coverage <module> on|off', 'pdp-deactivate <module> [<cid>]' change the module's "
    "world; 'help'"
)
MAX_LINE = 64 * 1024


class ControlError(ValueError):
    """A control line that cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class DeliverSms:
    module: int
    sender: str
    text: str


@dataclass(frozen=True)
class RefuseSends:
    module: int
    code: int | None  # None: accept again


@dataclass(frozen=True)
class OpenPort:
    module: int
    kind: str  # "pty" or "tcp"


@dataclass(frozen=True)
class ClosePort:
    module: int


@dataclass(frozen=True)
class ShowStats:
    pass


@dataclass(frozen=True)
class WorldControl:
    """A world control for one module, as a line names it (``coverage 0 off``)."""

    module: int
    control: controls.Control
    said: str  # the line's words, normalised: the acknowledgement


WORLD_USAGE = {
    "power-on": "usage: power-on <module>",
    "coverage": "usage: coverage <module> on|off",
    "pdp-deactivate": "usage: pdp-deactivate <module> [<cid 1-15>]",
}


def _world(words: list[str]) -> WorldControl:
    action = words[0]
    usage = WORLD_USAGE[action]
    if len(words) < 2 or not words[1].isdigit():
        raise ControlError(usage)
    module, rest = int(words[1]), words[2:]
    said = " ".join([action, str(module), *rest])
    if action == "power-on" and not rest:
        return WorldControl(module, controls.SetPower(on=True), said)
    if action == "coverage" and rest in (["on"], ["off"]):
        return WorldControl(module, controls.SetCoverage(present=rest[0] == "on"), said)
    if action == "pdp-deactivate" and not rest:
        return WorldControl(module, controls.DeactivatePdp(), said)
    if action == "pdp-deactivate" and len(rest) == 1 and rest[0].isdigit():
        if not 1 <= int(rest[0]) <= 15:
            raise ControlError(f"{rest[0]!r} is not a PDP context 1-15")
        return WorldControl(module, controls.DeactivatePdp(cid=int(rest[0])), said)
    raise ControlError(usage)


Command = DeliverSms | RefuseSends | OpenPort | ClosePort | ShowStats | WorldControl


def parse_line(line: str) -> Command | str | None:
    """A command, the help text (str), or None for an empty line; raises ControlError."""
    words = line.strip().split(None, 3)
    if not words:
        return None
    if words[0] == "help":
        return HELP
    if words[0] == "stats":
        return ShowStats()
    if words[0] in WORLD_USAGE:
        return _world(line.split())
    if words[0] == "port":
        if len(words) != 3 or not words[1].isdigit() or words[2] not in ("pty", "tcp"):
            raise ControlError("usage: port <module> pty|tcp")
        return OpenPort(int(words[1]), words[2])
    if words[0] == "port-close":
        if len(words) != 2 or not words[1].isdigit():
            raise ControlError("usage: port-close <module>")
        return ClosePort(int(words[1]))
    if words[0] == "sms-reject":
        if len(words) != 3 or not words[1].isdigit():
            raise ControlError("usage: sms-reject <module> <err 0-511>|off")
        if words[2] == "off":
            return RefuseSends(int(words[1]), None)
        if not words[2].isdigit() or int(words[2]) > 511:
            raise ControlError(f"{words[2]!r} is not a +CMS ERROR code 0-511 or off")
        return RefuseSends(int(words[1]), int(words[2]))
    if words[0] != "sms":
        raise ControlError(f"unknown control command {words[0]!r}; {HELP}")
    if len(words) < 4:
        raise ControlError("usage: sms <module> <sender> <text>")
    _, module_text, sender, text = words
    if not module_text.isdigit():
        raise ControlError(f"module {module_text!r} is not a module number")
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ControlError(f"text is not a JSON string: {exc.msg}") from None
        if not isinstance(value, str):
            raise ControlError("text is not a JSON string")
        text = value
    return DeliverSms(int(module_text), sender, text)


def describe_part(part: dict[str, Any]) -> str:
    """One delivered part as ``apply_control`` reports it: stored / direct / rejected."""
    if part["stored"] is not None:
        return f"stored {part['stored']} {part['index']}"
    if part["direct"]:
        return "direct"
    return f"rejected {part['rejected']}"


class ControlChannel:
    """Carries out control lines on the served modules and reports their sent SMS."""

    def __init__(
        self,
        modules: Sequence[ServedModule],
        out: Callable[[str], None],
        err: Callable[[str], None],
        *,
        emulator: Emulator | None = None,
    ) -> None:
        self.modules = list(modules)
        self.out = out
        self.err = err
        self.emulator = emulator  # for ports and stats (the lines about the whole run)
        self._tasks: set[asyncio.Task[None]] = set()
        if emulator is not None:
            emulator.lag.start()
            emulator.gc_pauses.install()
        for served in self.modules:
            served.host.add_listener(self._listener(served.index), (SmsSent,))

    def _listener(self, index: int) -> Callable[[ModuleEvent], None]:
        def on_event(event: ModuleEvent) -> None:
            if isinstance(event, SmsSent):
                body = event.text if event.alphabet is not Alphabet.DATA8 else event.data.hex()
                text = json.dumps(body)  # \u escapes: stdout may not be UTF-8
                self.out(f"sms sent {index} {event.destination} {text}")

        return on_event

    def handle(self, line: str) -> None:
        try:
            command = parse_line(line)
            if command is None:
                return
            if isinstance(command, str):
                self.out(command)
                return
            if isinstance(command, RefuseSends):
                self._refuse(command)
                return
            if isinstance(command, DeliverSms):
                self._deliver(command)
                return
            if isinstance(command, WorldControl):
                try:
                    self._apply(command.module, command.control)
                except ControlError as exc:
                    raise ControlError(f"{command.said}: {exc}") from None
                self.out(command.said)
                return
            emulator = self.emulator
            if emulator is None:
                raise ControlError("this control channel has no ports or stats")
            if isinstance(command, ShowStats):
                self.out(emulator.stats_line())
            elif isinstance(command, ClosePort):
                emulator.module(command.module)  # ValueError if there is none
                closed = emulator.close_port(command.module)
                self.out(f"port-close {command.module} {closed}")
            else:
                emulator.module(command.module)
                task = asyncio.get_running_loop().create_task(self._open(emulator, command))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (ControlError, ValueError) as exc:
            self.err(f"control: {exc}")

    async def _open(self, emulator: Emulator, command: OpenPort) -> None:
        try:
            port = await emulator.open_port(command.module, command.kind)
        except (OSError, ValueError) as exc:
            self.err(f"control: port {command.module} {command.kind}: {exc}")
            return
        self.out(f"port {command.module} {port.describe()}")

    def _refuse(self, command: RefuseSends) -> None:
        self._apply(command.module, controls.RefuseSms(code=command.code))
        state = "off" if command.code is None else f"+CMS ERROR: {command.code}"
        self.out(f"sms-reject {command.module} {state}")

    def _deliver(self, command: DeliverSms) -> None:
        result = self._apply(
            command.module, controls.DeliverSms(sender=command.sender, text=command.text)
        )
        for part in result["parts"]:
            self.out(f"sms delivered {command.module} {command.sender} {describe_part(part)}")

    def _apply(self, index: int, control: controls.Control) -> dict[str, Any]:
        """The world control on module ``index`` (the same code as the MQTT control plane)."""
        if index >= len(self.modules):
            raise ControlError(f"no module {index} (there are {len(self.modules)})")
        host = self.modules[index].host
        try:
            return host.apply(lambda now: controls.apply_control(host.module, control, now))
        except controls.ControlError as exc:
            raise ControlError(str(exc)) from None

    async def run_stdin(self) -> None:
        """Read control lines until stdin closes (then serving simply goes on)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        try:
            while True:
                try:
                    raw = await reader.readline()
                except ValueError:  # a line over the limit
                    self.err(f"control: line longer than {MAX_LINE} bytes ignored")
                    continue
                if not raw:
                    return
                self.handle(raw.decode("utf-8", "replace"))
        finally:
            transport.close()
