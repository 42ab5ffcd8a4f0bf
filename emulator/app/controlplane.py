"""``serve --mqtt``: the control plane of one serve process, wired to its modules."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from emulator.adapters.controlplane import MqttAdapter, parse_broker_url
from emulator.controlplane.plane import ControlPlane, Hosted
from emulator.controlplane.schema import Topics


def instance_name() -> str:
    """This process among others on the broker: host name (a pod's name) and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


def build_control_plane(
    modules: Sequence[tuple[str, Hosted]],
    url: str,
    prefix: str,
    *,
    describe: Mapping[str, Any] | None = None,
) -> MqttAdapter:
    """The adapter for ``modules`` (IMEI, host); raises ValueError for a bad URL or prefix."""
    broker = parse_broker_url(url)
    topics = Topics(prefix)
    instance = instance_name()
    plane = ControlPlane(
        topics,
        instance,
        dict(modules),
        wall_clock=time.time,
        describe={"pid": os.getpid(), "host": socket.gethostname(), **(describe or {})},
    )
    return MqttAdapter(plane, broker, client_id=f"quecemu-{instance}")
