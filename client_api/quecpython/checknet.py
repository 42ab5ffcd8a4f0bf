"""QuecPython ``checkNet``: wait for SIM, registration and a PDP context, in that order.

``waitNetworkReady(timeout)`` returns ``(stage, state)``: ``(3, 1)`` once the network is
ready; otherwise the stage it stopped at (1 SIM, 2 registration, 3 PDP) and that stage's
state (``sim.getStatus()``, the 27.007 registration <stat>, or 0 for no context).

On the device the firmware activates PDP context 1 by itself after registration; here
the runtime stands in for that firmware, so when registration is done and context 1 is
not active, ``waitNetworkReady`` activates it once (``dataCall.activate(1)``).
"""

from __future__ import annotations

import threading
import time

from client_api.quecpython import datacall, modem, net, sim
from client_api.quecpython._support import missing_attribute

PROVIDED = ("waitNetworkReady", "CheckNetwork")
POLL_INTERVAL = 0.2  # seconds between queries while waiting
PROFILE_ID = 1
SIM_READY = 1


def waitNetworkReady(timeout: int = 60) -> tuple[int, int]:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 1 <= timeout <= 3600
    ):
        raise ValueError("timeout must be 1-3600 seconds")
    deadline = time.monotonic() + timeout
    pause = threading.Event()

    def waiting() -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pause.wait(min(POLL_INTERVAL, left))
        return True

    while (status := sim.getStatus()) != SIM_READY:
        if not waiting():
            return (1, status)
    while (stat := net.registration_stat()) not in net.REGISTERED:
        if not waiting():
            return (2, stat)
    activated = False
    while True:
        info = datacall.getInfo(PROFILE_ID, 0)
        if isinstance(info, tuple) and isinstance(info[2], list) and info[2][0] == 1:
            return (3, 1)
        if not activated:
            activated = True
            datacall.activate(PROFILE_ID)
            continue
        if not waiting():
            return (3, 0)


class CheckNetwork:
    """The older interface: a project banner plus the same wait."""

    def __init__(self, project_name: str, project_version: str) -> None:
        self.project_name = project_name
        self.project_version = project_version

    def poweron_print_once(self) -> None:
        print("==================================================")
        print(f"PROJECT_NAME     : {self.project_name}")
        print(f"PROJECT_VERSION  : {self.project_version}")
        print(f"FIRMWARE_VERSION : {modem.getDevFwVersion()}")
        print("POWERON_REASON   : host runtime (not reported over AT)")
        print(f"SIM_CARD_STATUS  : {sim.getStatus()}")
        print("==================================================")

    def wait_network_connected(self, timeout: int = 60) -> tuple[int, int]:
        return waitNetworkReady(timeout)


def __getattr__(name: str) -> object:
    raise missing_attribute("checkNet", name, PROVIDED)
