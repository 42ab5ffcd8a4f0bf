"""Functionality and reset: AT+CFUN (27.007 §8.2)."""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandContext, CommandRegistry, Response


def cfun_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CFUN: {ctx.module.radio.fun}"]


def cfun_write(ctx: CommandContext, args: Args) -> Response | None:
    """``AT+CFUN=<fun>[,<rst>]``: <rst>=1 resets the ME and is valid only with <fun>=1
    (Quectel AT manual, research notes §6). The reset answers OK, then the port goes quiet
    and the boot URCs follow."""
    args.count(1, 2)
    fun = args.int(0, 0, 4, allowed=(0, 1, 4))
    rst = args.int(1, 0, 1, default=0)
    if rst == 1:
        if fun != 1:
            raise IncorrectParameters("<rst>=1 is valid only with <fun>=1")
        module = ctx.module
        # Reboot once OK is out: schedule at "now" so the engine renders OK first.
        module.call_at(ctx.now, lambda now: module.reboot(now, "AT+CFUN=1,1"))
        return None
    ctx.module.set_functionality(fun, ctx.now)
    return None


def cfun_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CFUN: (0,1,4),(0-1)"]


def register(registry: CommandRegistry) -> None:
    registry.add("+CFUN", Form.READ, cfun_read)
    registry.add("+CFUN", Form.WRITE, cfun_write)
    registry.add("+CFUN", Form.TEST, cfun_test)
