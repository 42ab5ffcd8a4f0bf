"""Identification: ATI, AT+GMI/CGMI, AT+GMM/CGMM, AT+GMR/CGMR, AT+GSN, AT+CGSN (27.007 §5).

Formats as Quectel prints them (Quectel's AT manuals): ATI gives manufacturer, model and
``Revision: <rev>``; the G* commands give the bare value; ``AT+CGSN=1`` prefixes it.
"""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext


def ati(ctx: CommandContext, args: Args) -> list[str]:
    if args.values and args.values[0] != 0:
        raise IncorrectParameters("ATI takes only 0")
    ident = ctx.module.identity
    return [ident.manufacturer, ident.model, f"Revision: {ident.revision}"]


def manufacturer(ctx: CommandContext, args: Args) -> list[str]:
    return [ctx.module.identity.manufacturer]


def model(ctx: CommandContext, args: Args) -> list[str]:
    return [ctx.module.identity.model]


def revision(ctx: CommandContext, args: Args) -> list[str]:
    return [ctx.module.identity.revision]


def imei(ctx: CommandContext, args: Args) -> list[str]:
    return [ctx.module.identity.imei]


def cgsn_write(ctx: CommandContext, args: Args) -> list[str]:
    """27.007 §5.4: <snt> 0 serial number, 1 IMEI."""
    args.count(1)
    snt = args.int(0, 0, 1)
    ident = ctx.module.identity
    return [f"+CGSN: {ident.serial_number if snt == 0 else ident.imei}"]


def cgsn_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CGSN: (0,1)"]


def empty(ctx: CommandContext, args: Args) -> None:
    """``=?`` of an action command without parameters: just OK (V.250 §5.4.3)."""


def register(registry: CommandRegistry) -> None:
    registry.add("I", Form.EXEC, ati)
    for names, handler in (
        (("+GMI", "+CGMI"), manufacturer),
        (("+GMM", "+CGMM"), model),
        (("+GMR", "+CGMR"), revision),
        (("+GSN", "+CGSN"), imei),
    ):
        for name in names:
            registry.add(name, Form.EXEC, handler)
            if name != "+CGSN":
                registry.add(name, Form.TEST, empty)
    registry.add("+CGSN", Form.WRITE, cgsn_write)
    registry.add("+CGSN", Form.TEST, cgsn_test)
