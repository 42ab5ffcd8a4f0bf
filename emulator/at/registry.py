"""Command handlers keyed by (name, form), contributed by one module per command family.

A family module (``emulator/commands/<family>.py``) exposes ``register(registry)`` and
decorates its handlers; the module profile decides which families and commands exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from emulator.at.parser import Args, Form

#: What handlers act on; the AT core does not know it (``emulator.commands.context``
#: names the emulated module).
ModuleT_co = TypeVar("ModuleT_co", covariant=True)


@dataclass(frozen=True, kw_only=True)
class DataInput:
    """A command that takes raw data after its answer: ``> `` (AT+QMTPUB, AT+QISEND,
    AT+CMGS) or ``CONNECT`` (AT+QHTTPURL, AT+QHTTPPOST, AT+QFUPL).

    The engine writes ``prompt`` framed as the command family asks (``"\r\n> "`` or
    ``"\r\nCONNECT\r\n"``), then hands every byte to the command until ``length`` bytes
    have come or, with ``length`` None, until Ctrl-Z (0x1A, not part of the data). ESC (0x1B)
    cancels a Ctrl-Z-ended input; a fixed-length input takes ESC as data (binary payloads).
    ``timeout`` seconds without the whole input end it with ``on_timeout``. The data is
    not echoed. URCs wait until the final answer, as during any command.
    """

    prompt: bytes
    length: int | None
    on_data: Callable[[bytes, float], Response]
    on_cancel: Callable[[float], Response] | None = None
    on_timeout: Callable[[bytes, float], Response] | None = None
    timeout: float | None = None
    max_length: int = 65536  # a Ctrl-Z input longer than this ends as on_data's problem
    # echo the input bytes while ATE1 is on (AT+CMGS text; AT+QISEND with AT+QISDE=1, also
    # fixed-length); answer each CR with the prompt again (Ctrl-Z inputs only: 27.005 §3.5.1
    # text mode, the message may span lines).
    echo: bool = False
    line_prompts: bool = False


@dataclass(frozen=True, kw_only=True)
class OnlineData:
    """Transparent access (Quectel's TCP/IP ``<access_mode>`` 2, after ``CONNECT``): the port
    carries one connection's bytes both ways. Every byte the host types goes to ``on_data``
    except an escape sequence: ``+++`` typed within ``guard`` seconds with ``guard`` seconds
    of silence before and after it (V.250 §6.3.5's S2/S12 escape, the guard time Quectel's
    TCP/IP application notes give), after which ``on_escape`` runs and the engine answers
    ``OK`` in command mode. URCs wait until the port is back in command mode."""

    on_data: Callable[[bytes, float], None]
    on_escape: Callable[[float], None]
    guard: float = 1.0


@dataclass(kw_only=True)
class Response:
    """What a handler gives back: information lines and, normally, ``OK``.

    ``final`` is None when the handler ends the exchange itself (e.g. a reboot answers OK and
    then goes quiet); ``delay`` adds latency on top of the profile's per-command latency.
    ``data_input`` (with ``final`` None) asks for raw data after the lines: the final answer
    then comes from the DataInput's callbacks.
    """

    lines: list[str] = field(default_factory=list)
    final: str | None = "OK"
    delay: float = 0.0
    data_input: DataInput | None = None
    data: bytes = b""  # raw bytes after the lines, before the final code (AT+QHTTPREAD)
    # the final result comes later, from ``AtEngine.complete`` (AT+QIOPEN in transparent
    # mode answers CONNECT or ERROR once the connection is up or has failed); until then
    # the port takes no command, as while any command runs
    deferred: bool = False
    online: OnlineData | None = None  # after ``final`` (CONNECT): transparent data mode


class CommandContext(Protocol[ModuleT_co]):
    """What a handler may touch: the module (state, settings, URCs, events) and the time."""

    @property
    def module(self) -> ModuleT_co: ...

    @property
    def now(self) -> float: ...


Handler = Callable[[CommandContext[Any], Args], Response | list[str] | None]
"""A handler returns a Response, a list of information lines (then OK), or None (just OK)."""


@dataclass
class CommandRegistry:
    handlers: dict[tuple[str, Form], Handler] = field(default_factory=dict)

    def add(self, name: str, form: Form, handler: Handler) -> None:
        key = (name.upper(), form)
        if key in self.handlers:
            raise ValueError(f"duplicate handler for {name} {form.value}")
        self.handlers[key] = handler

    def on(self, name: str, *forms: Form) -> Callable[[Handler], Handler]:
        """Decorator: ``@registry.on("+CSQ", Form.EXEC)``."""

        def deco(fn: Handler) -> Handler:
            for form in forms:
                self.add(name, form, fn)
            return fn

        return deco

    def lookup(self, name: str, form: Form) -> Handler | None:
        return self.handlers.get((name, form))

    def knows(self, name: str) -> bool:
        return any(key[0] == name for key in self.handlers)

    def names(self) -> set[str]:
        return {key[0] for key in self.handlers}

    def restrict(self, allowed: Iterable[str]) -> None:
        """Keep only the listed commands (a profile's command set)."""
        keep = {a.upper() for a in allowed}
        self.handlers = {k: v for k, v in self.handlers.items() if k[0] in keep}


class CommandFamily(Protocol):
    """A module under emulator/commands/ (or a plug-in) that contributes handlers."""

    def register(self, registry: CommandRegistry) -> None: ...
