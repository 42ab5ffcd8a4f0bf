"""``serve --replica``: which slice of the IMEI space this serve process takes in a fleet.

Replica R of processes that all run ``--count C`` serves the IMEIs of indices R*C .. R*C+C-1
after the first IMEI (serial number + index, 3GPP TS 23.003 Annex B check digit), so the
processes joined by one broker never overlap. The ordinal comes from the engine that runs
them, not from a cluster of our own:

- ``--replica N``: given.
- ``--replica hostname``: the number at the end of the host name. A Kubernetes StatefulSet
  names its pods ``<name>-0``, ``<name>-1`` ... and uses the pod name as host name.
- ``--replica compose``: the number at the end of the container's name as Docker's
  embedded DNS gives it for the container's own address (``<project>-emulator-3`` or
  ``<project>_emulator_3``); ``docker-compose up --scale emulator=N`` numbers them from 1.
"""

from __future__ import annotations

import re
import socket
from typing import Final

MAX_REPLICA: Final = 99_999
_TRAILING: Final = re.compile(r"[-_](\d+)$")


class ReplicaError(ValueError):
    """The ordinal cannot be found (the message says where it was looked for)."""


def ordinal_from_name(name: str, *, first: int = 0) -> int:
    """The trailing ``-N``/``_N`` of a host or container name, counted from ``first``."""
    label = name.split(".", 1)[0]
    match = _TRAILING.search(label)
    if match is None:
        raise ReplicaError(f"{name!r} does not end in -N or _N")
    ordinal = int(match.group(1)) - first
    if not 0 <= ordinal <= MAX_REPLICA:
        raise ReplicaError(f"{name!r} gives replica {ordinal}, not 0-{MAX_REPLICA}")
    return ordinal


def container_name() -> str:
    """This container's name: Docker's DNS answers a reverse lookup of its own address."""
    try:
        address = socket.gethostbyname(socket.gethostname())
        return socket.gethostbyaddr(address)[0]
    except OSError as exc:
        raise ReplicaError(f"no DNS name for this container's address: {exc}") from None


def resolve_replica(text: str) -> int:
    """The ordinal that ``--replica TEXT`` stands for; raises ReplicaError."""
    if text.isdigit():
        value = int(text)
        if value > MAX_REPLICA:
            raise ReplicaError(f"replica {value} is not 0-{MAX_REPLICA}")
        return value
    if text == "hostname":
        return ordinal_from_name(socket.gethostname())
    if text == "compose":
        return ordinal_from_name(container_name(), first=1)
    raise ReplicaError(f"{text!r} is not a number, 'hostname' or 'compose'")
