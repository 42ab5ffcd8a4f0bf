"""SIM: AT+CPIN (27.007 §8.3), AT+CIMI (§5.6), AT+QCCID, AT+QINISTAT (Quectel)."""

from __future__ import annotations

from emulator.at.errors import OperationNotAllowed, SimNotInserted, SimPinRequired
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.module.state import Functionality, SimState


def _require_sim(ctx: CommandContext) -> None:
    sim = ctx.module.radio.sim
    if sim is SimState.NOT_INSERTED:
        raise SimNotInserted()
    if sim is SimState.PIN:
        raise SimPinRequired()


def cpin_read(ctx: CommandContext, args: Args) -> list[str]:
    if ctx.module.radio.sim is SimState.NOT_INSERTED:
        raise SimNotInserted()
    return [f"+CPIN: {ctx.module.radio.sim.value}"]


def cpin_write(ctx: CommandContext, args: Args) -> None:
    """Entering a PIN when none is asked for is not allowed (27.007 §8.3)."""
    args.count(1, 2)
    args.str(0, max_len=8)
    if ctx.module.radio.sim is SimState.NOT_INSERTED:
        raise SimNotInserted()
    raise OperationNotAllowed("no PIN is required")


def cimi(ctx: CommandContext, args: Args) -> list[str]:
    _require_sim(ctx)
    return [ctx.module.identity.imsi]


def qccid(ctx: CommandContext, args: Args) -> list[str]:
    _require_sim(ctx)
    return [f"+QCCID: {ctx.module.identity.iccid}"]


def qinistat(ctx: CommandContext, args: Args) -> list[str]:
    """Bit map: 1 CPIN READY, 2 SMS DONE, 4 PB DONE (Quectel's AT manuals, AT+QINISTAT)."""
    ready = ctx.module.radio.sim is SimState.READY and ctx.module.radio.fun is Functionality.FULL
    return [f"+QINISTAT: {7 if ready else 0}"]


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of an action command: OK."""


def register(registry: CommandRegistry) -> None:
    registry.add("+CPIN", Form.READ, cpin_read)
    registry.add("+CPIN", Form.WRITE, cpin_write)
    registry.add("+CPIN", Form.TEST, empty)
    registry.add("+CIMI", Form.EXEC, cimi)
    registry.add("+CIMI", Form.TEST, empty)
    registry.add("+QCCID", Form.EXEC, qccid)
    registry.add("+QCCID", Form.TEST, empty)
    registry.add("+QINISTAT", Form.EXEC, qinistat)
    registry.add("+QINISTAT", Form.TEST, empty)
