"""What the runtime modules share: the AT channel, and failures as QuecPython's -1."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from client_api.channel import AtResponse
from client_api.errors import AtChannelError
from client_api.ports import default_channel

log = logging.getLogger("client_api.quecpython")

FAILED = -1
_last_warning: str | None = None


def at(command: str, *, timeout: float | None = None, quiet: bool = False) -> AtResponse | None:
    """Run ``command`` on the default channel; None (logged unless ``quiet``) on any error."""
    global _last_warning
    try:
        return default_channel().command(command, timeout=timeout)
    except AtChannelError as exc:
        message = str(exc)
        # A script polling a vanished module would repeat one warning many times a second.
        if quiet or message == _last_warning:
            log.debug("%s", message)
        else:
            log.warning("%s", message)
            _last_warning = message
        return None


def bare_line(response: AtResponse | None) -> str | None:
    """The first information line without a ``+NAME:`` prefix (``AT+CGSN`` -> IMEI)."""
    if response is None:
        return None
    for line in response.lines:
        if not line.startswith("+"):
            return line.strip()
    return None


def missing_attribute(module: str, name: str, provided: Iterable[str]) -> AttributeError:
    """The error for a QuecPython function this host runtime does not carry."""
    listed = ", ".join(sorted(n for n in provided if not n.startswith("_")))
    return AttributeError(
        f"{module}.{name} is not provided by the client_api host runtime"
        f" (provided in {module}: {listed})"
    )
