"""Functionality and reset: AT+CFUN (27.007 §8.2); battery: AT+CBC (27.007 §8.4 in
Quectel's form ``+CBC: <bcs>,<bcl>,<voltage>``, the voltage in mV)."""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, Response
from emulator.commands.context import CommandContext
from emulator.commands.familydata import setting
from emulator.module.events import RebootCause
from emulator.module.state import Functionality

# The supply the module sees when its profile has no "battery" section: a charged
# single-cell Li-ion (Quectel's EC200U supply range is 3.4-4.5 V, typical 3.8 V).
BATTERY_DEFAULTS = {"bcs": 0, "bcl": 100, "voltage_mv": 3800}


def cfun_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CFUN: {ctx.module.radio.fun}"]


def cfun_write(ctx: CommandContext, args: Args) -> Response | None:
    """``AT+CFUN=<fun>[,<rst>]``: <rst>=1 resets the ME and is valid only with <fun>=1
    (Quectel's AT manual). The reset answers OK, then the port goes quiet
    and the boot URCs follow."""
    args.count(1, 2)
    fun = args.int(0, 0, 4, allowed=(0, 1, 4))
    rst = args.int(1, 0, 1, default=0)
    if rst == 1:
        if fun != 1:
            raise IncorrectParameters("<rst>=1 is valid only with <fun>=1")
        module = ctx.module
        # Reboot once OK is out: schedule at "now" so the engine renders OK first.
        module.call_at(ctx.now, lambda now: module.reboot(now, RebootCause.AT_CFUN))
        return None
    ctx.module.set_functionality(Functionality(fun), ctx.now)
    return None


def cfun_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CFUN: (0,1,4),(0-1)"]


def cbc(ctx: CommandContext, args: Args) -> list[str]:
    """``+CBC: <bcs>,<bcl>,<voltage>``: charge status (0 not charging, 1 charging, 2
    charged), level in percent and voltage in mV, from the profile's ``battery``."""
    values = [setting(ctx.module, "battery", key, int, d) for key, d in BATTERY_DEFAULTS.items()]
    return ["+CBC: " + ",".join(str(v) for v in values)]


def cbc_test(ctx: CommandContext, args: Args) -> None:
    """Test form: OK."""


def register(registry: CommandRegistry) -> None:
    registry.add("+CFUN", Form.READ, cfun_read)
    registry.add("+CFUN", Form.WRITE, cfun_write)
    registry.add("+CFUN", Form.TEST, cfun_test)
    registry.add("+CBC", Form.EXEC, cbc)
    registry.add("+CBC", Form.TEST, cbc_test)
