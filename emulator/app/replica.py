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
  The PTR query (RFC 1035 §3.5) goes to the resolver of /etc/resolv.conf directly: the C
  library would answer it from /etc/hosts, where Docker puts the container id instead.
"""

from __future__ import annotations

import re
import secrets
import socket
import struct
from pathlib import Path
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


DNS_TIMEOUT: Final = 2.0  # seconds
PTR: Final = 12  # RFC 1035 §3.2.2 TYPE
IN: Final = 1


def ptr_query(address: str, query_id: int) -> bytes:
    """A recursive PTR query for an IPv4 address (RFC 1035 §4.1, §3.5 in-addr.arpa)."""
    labels = [*reversed(address.split(".")), "in-addr", "arpa"]
    name = b"".join(bytes([len(label)]) + label.encode("ascii") for label in labels) + b"\0"
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", PTR, IN)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """A domain name at ``offset`` (with RFC 1035 §4.1.4 compression); the offset after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # a pointer loop in a hostile answer must not spin
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise ValueError("name compression loops")


def parse_ptr_answer(message: bytes, query_id: int) -> str:
    """The first PTR name in a DNS answer; raises ValueError saying what is wrong."""
    try:
        ident, flags, questions, answers = struct.unpack("!HHHH", message[:8])
        if ident != query_id:
            raise ValueError("the answer is for another query")
        if flags & 0x000F:
            raise ValueError(f"the resolver answered with RCODE {flags & 0x000F}")
        offset = 12
        for _ in range(questions):
            _, offset = _read_name(message, offset)
            offset += 4
        for _ in range(answers):
            _, offset = _read_name(message, offset)
            rtype, _, _, length = struct.unpack("!HHIH", message[offset : offset + 10])
            offset += 10
            if rtype == PTR:
                return _read_name(message, offset)[0]
            offset += length
    except (IndexError, struct.error) as exc:
        raise ValueError(f"a truncated DNS answer ({exc})") from None
    raise ValueError("no PTR record in the answer")


def nameserver(resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    for line in resolv_conf.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            return words[1]
    raise ReplicaError(f"{resolv_conf} names no nameserver")


def reverse_lookup(
    address: str, server: str, port: int = 53, *, timeout: float = DNS_TIMEOUT
) -> str:
    """The PTR name of an IPv4 address, asked of the DNS server ``server``."""
    query_id = secrets.randbelow(0x10000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sock.send(ptr_query(address, query_id))
        return parse_ptr_answer(sock.recv(4096), query_id)


def container_name() -> str:
    """This container's name: Docker's DNS answers a reverse lookup of its own address."""
    try:
        address = socket.gethostbyname(socket.gethostname())
        return reverse_lookup(address, nameserver())
    except (OSError, ValueError) as exc:
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
