"""Running the one AT command a system call needs, with errors that name the call.

``require(call, command)`` returns the response, raises
:class:`~client_api.quecpython._host.UnsupportedCall` when the module refuses the
command (``ERROR``, ``+CME ERROR``: typically a module or emulator without it), and
``OSError(EIO)`` when the module cannot be asked (gone, timed out).
"""

from __future__ import annotations

import errno

from client_api.channel import AtResponse
from client_api.errors import AtChannelError, CommandError
from client_api.ports import default_channel
from client_api.quecpython._host import UnsupportedCall


def require(call: str, command: str, *, timeout: float | None = None) -> AtResponse:
    try:
        return default_channel().command(command, timeout=timeout)
    except CommandError as exc:
        raise UnsupportedCall(
            call, f"the module answered {exc.final!r} to {command}, which this call needs"
        ) from None
    except AtChannelError as exc:
        raise OSError(errno.EIO, f"{call}: {exc}") from None
