"""Errors of the host-side AT channel.

The channel raises them where the problem is found; the QuecPython-shaped API
(:mod:`client_api.lwm2m`, the runtime modules) turns them into the documented return
codes at its one boundary. Misuse of the API (a command with a line break in it) is a
``ValueError``, kept apart from the module refusing a command.
"""

from __future__ import annotations

from client_api.at_data import CME_CODES_BY_TEXT


class AtChannelError(Exception):
    """Base of everything the AT channel raises about the module or the port."""


class PortNotConfigured(AtChannelError):
    """No port was named: neither ``client_api.open(port)`` nor ``QUECEMU_PORT``."""


class ModuleGone(AtChannelError):
    """The port vanished (or cannot be opened); the channel keeps trying to reopen it."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"module on {port} is gone: {reason}")
        self.port = port
        self.reason = reason


class ChannelClosed(AtChannelError):
    """The channel was closed by its owner."""


class CommandTimeout(AtChannelError):
    """No final result code arrived in time."""

    def __init__(self, command: str, timeout: float, lines: tuple[str, ...]) -> None:
        got = f"; got only {list(lines)!r}" if lines else ""
        super().__init__(f"{command!r}: no final result code within {timeout:g} s{got}")
        self.command = command
        self.timeout = timeout
        self.lines = lines


class CommandError(AtChannelError):
    """The module ended the command with ``ERROR`` (or another non-OK final result)."""

    def __init__(self, command: str, final: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(f"{command!r} answered {final!r}")
        self.command = command
        self.final = final
        self.lines = lines


class CmeError(CommandError):
    """``+CME ERROR: <n>`` or ``+CME ERROR: <text>`` (3GPP TS 27.007 §9.2).

    ``code`` is the numeric code, also when the module printed the text (``AT+CMEE=2``)
    and the text is one of 27.007's; otherwise ``None``.
    """

    def __init__(self, command: str, final: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(command, final, lines)
        detail = final.split(":", 1)[1].strip()
        self.text = detail
        if detail.isdigit():
            self.code: int | None = int(detail)
        else:
            self.code = CME_CODES_BY_TEXT.get(detail.lower())


def error_for_final(command: str, final: str, lines: tuple[str, ...]) -> CommandError:
    """The exception for a final result code that is not ``OK``."""
    if final.startswith("+CME ERROR:"):
        return CmeError(command, final, lines)
    return CommandError(command, final, lines)
