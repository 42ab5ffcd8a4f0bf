"""Transports: how a host program reaches a module's AT port (a pty or a TCP socket).

A transport only moves bytes: what it reads goes to ``on_data`` (normally
``ModuleHost.feed``), what the module says comes in through ``write``. Both kinds bound the
output nobody reads and count what they drop, and neither busy-loops or blocks.
:mod:`emulator.app.serve` builds the modules of a ``quecemu serve`` run and wires them to
their transports, an optional trace and optional baud pacing.
"""

from emulator.adapters.port.pacing import BaudPacer
from emulator.adapters.port.port import PortEvent, PortStats
from emulator.adapters.port.pty import PtyPort
from emulator.adapters.port.tcp import TcpPort
from emulator.adapters.port.trace import TraceWriter

__all__ = ["BaudPacer", "PortEvent", "PortStats", "PtyPort", "TcpPort", "TraceWriter"]
