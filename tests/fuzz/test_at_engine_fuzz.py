"""Fuzz: the AT engine and every command family of the module, on a fake clock.

Whatever a host sends (known commands in every form with odd parameters, or any bytes), the
module never raises and afterwards still answers ``AT`` with ``OK``. 300 examples of up to 6
lines each, the same on every run (``derandomize``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.lwm2m.client.rig import Rig

from .strategies import at_lines, fuzz

_NAMES = sorted(Rig().module.engine.registry.names())


@fuzz(300)
@given(lines=st.lists(at_lines(_NAMES), min_size=1, max_size=6))
def test_any_lines_leave_the_module_answering(lines: list[bytes]) -> None:
    rig = Rig()
    start = len(rig.text)
    for line in lines:
        rig.module.receive_data(line + b"\r", rig.now)
        rig.advance(0.5)
    rig.advance(30.0)  # whatever was started (a reboot, a timer, a registration) settles
    # A prompt for raw data (AT+QISEND, AT+CMGS ...) ends with ESC; then a clean line.
    rig.module.receive_data(b"\x1b", rig.now)
    rig.advance(1.0)
    rig.module.receive_data(b"\rATE0V1Q0\r", rig.now)
    rig.advance(1.0)
    mark = len(rig.text)
    rig.module.receive_data(b"AT\r", rig.now)
    rig.advance(1.0)
    assert rig.text[mark:].endswith("\r\nOK\r\n"), repr(rig.text[start:][-400:])
