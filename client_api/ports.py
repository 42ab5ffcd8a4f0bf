"""Which port the process talks to: one shared :class:`AtChannel` per port.

``open(port)`` names the port (a device path or any pyserial URL, e.g.
``socket://127.0.0.1:5000`` or ``rfc2217://host:port``) and makes it the process default;
without a name the ``QUECEMU_PORT`` environment variable is used. Every QuecPython-shaped
object created afterwards (``lwm2m()``, ``net``, ``modem``...) uses the default channel.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from client_api.channel import AtChannel
from client_api.errors import PortNotConfigured

PORT_ENV = "QUECEMU_PORT"

_lock = threading.Lock()
_channels: dict[str, AtChannel] = {}
_default_key: str | None = None


def _key(port: str) -> str:
    # A --link path stays the same across emulator restarts while its target changes,
    # so paths are keyed as given (made absolute), not resolved.
    return port if "://" in port else os.path.abspath(port)


def open_channel(port: str | None = None, **options: Any) -> AtChannel:
    """The shared channel for ``port`` (or ``$QUECEMU_PORT``), created on first use.

    A port that is not there yet does not raise: the channel opens it as soon as it
    appears, and commands meanwhile raise :class:`~client_api.errors.ModuleGone`.
    ``options`` (``command_timeout``, ``reconnect_interval``...) apply when the channel
    is created; an existing channel keeps its own.
    """
    global _default_key
    name = port if port is not None else os.environ.get(PORT_ENV)
    if not name:
        raise PortNotConfigured(
            f"no AT port named: call client_api.open(PORT) or set {PORT_ENV}"
            " (a device path, socket://HOST:PORT or rfc2217://HOST:PORT)"
        )
    key = _key(name)
    with _lock:
        channel = _channels.get(key)
        if channel is None or channel.closed:
            channel = AtChannel(name, **options)
            _channels[key] = channel
        if port is not None or _default_key is None:
            _default_key = key
        return channel


def default_channel() -> AtChannel:
    """The channel of the last ``open(port)``, else the one ``$QUECEMU_PORT`` names."""
    with _lock:
        channel = _channels.get(_default_key) if _default_key is not None else None
    if channel is not None and not channel.closed:
        return channel
    return open_channel()


def close_all() -> None:
    """Close every channel of the process (tests, and the runtime at exit)."""
    global _default_key
    with _lock:
        channels = list(_channels.values())
        _channels.clear()
        _default_key = None
    for channel in channels:
        channel.close()
