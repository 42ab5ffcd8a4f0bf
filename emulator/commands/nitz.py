"""Network time: AT+CTZR (27.007 §8.41) with the +CTZV/+CTZE URCs, AT+CTZU (§8.40) and
Quectel's AT+QLTS (latest time synchronised through the network).

The network sends its time (NITZ) when the module registers, if the profile says so
(``nitz.on_register``), and whenever the world says (``VirtualModule.network_time``, the
scenario fault ``network_time``). AT+CTZU 1 takes the time zone into the clock, 3 the time
and zone (Quectel AT manuals). Both settings are saved automatically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import NvSettings, int_list, range_text, setting, volatile
from emulator.module.events import ModuleEvent, NetworkTimeReceived, RegistrationChanged
from emulator.module.routing import EventTypes
from emulator.module.virtual import VirtualModule

FAMILY = "nitz"


@dataclass
class _Synced:
    """The last NITZ: its UTC time, zone and DST, and the module time it arrived."""

    unix_time: float
    tz_quarters: int
    dst: int
    received_at: float


def _settings(module: VirtualModule) -> NvSettings:
    return NvSettings(
        module,
        FAMILY,
        {
            "ctzr": setting(module, FAMILY, "ctzr_default", int, 0),
            "ctzu": setting(module, FAMILY, "ctzu_default", int, 0),
        },
    )


def _synced(module: VirtualModule) -> list[_Synced]:
    """The last network time of this boot: [] until the network sent one."""
    return volatile(module, "nitz.synced", list)


def _tz_text(quarters: int) -> str:
    return f"{'+' if quarters >= 0 else '-'}{abs(quarters):02d}"


def _stamp(unix_time: float, quarters: int) -> str:
    """``yyyy/MM/dd,hh:mm:ss`` of ``unix_time`` shifted by ``quarters`` hours/4."""
    when = dt.datetime.fromtimestamp(unix_time, dt.UTC) + dt.timedelta(minutes=15 * quarters)
    return when.strftime("%Y/%m/%d,%H:%M:%S")


# ------------------------------------------------------------------------------ commands
def _reporting_values(module: VirtualModule) -> list[int]:
    return int_list(module, FAMILY, "ctzr_values", [0, 1, 2])


def ctzr_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CTZR: {_settings(ctx.module).get('ctzr')}"]


def ctzr_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    values = _reporting_values(ctx.module)
    _settings(ctx.module).set("ctzr", args.int(0, 0, max(values), allowed=values))


def ctzr_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CTZR: " + range_text(_reporting_values(ctx.module))]


def _update_values(module: VirtualModule) -> list[int]:
    return int_list(module, FAMILY, "ctzu_values", [0, 1, 3])


def ctzu_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CTZU: {_settings(ctx.module).get('ctzu')}"]


def ctzu_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    values = _update_values(ctx.module)
    _settings(ctx.module).set("ctzu", args.int(0, 0, max(values), allowed=values))


def ctzu_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CTZU: " + range_text(_update_values(ctx.module))]


def _qlts(ctx: CommandContext, mode: int) -> list[str]:
    """Mode 0: the time as the network sent it (UTC, its zone); 1: UTC now, counted on from
    that; 2: local time now. ``+QLTS: ""`` before any network time."""
    synced = _synced(ctx.module)
    if not synced:
        return ['+QLTS: ""']
    last = synced[0]
    utc = last.unix_time
    if mode in (1, 2):
        utc += ctx.now - last.received_at
    shown = _stamp(utc, last.tz_quarters if mode == 2 else 0)
    return [f'+QLTS: "{shown}{_tz_text(last.tz_quarters)},{last.dst}"']


def qlts_exec(ctx: CommandContext, args: Args) -> list[str]:
    return _qlts(ctx, 0)


def qlts_write(ctx: CommandContext, args: Args) -> list[str]:
    args.count(1)
    return _qlts(ctx, args.int(0, 0, 2))


def qlts_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QLTS: (0-2)"]


# --------------------------------------------------------------------------- the network
def _receive(module: VirtualModule, event: NetworkTimeReceived, now: float) -> None:
    synced = _synced(module)
    synced[:] = [_Synced(event.unix_time, event.tz_quarters, event.dst, now)]
    settings = _settings(module)
    update = settings.get("ctzu")
    if update == 1:
        module.utc_offset_quarters = event.tz_quarters
    elif update == 3:
        module.set_unix_time(event.unix_time, now, utc_offset_quarters=event.tz_quarters)
    reporting = settings.get("ctzr")
    values = {
        "tz": _tz_text(event.tz_quarters),
        "dst": event.dst,
        "time": _stamp(event.unix_time, event.tz_quarters),
    }
    if reporting == 1:
        template = setting(module, FAMILY, "ctzv", str, '+CTZV: "{tz}"')
        module.raise_urc(template.format(**values), now)
    elif reporting == 2:
        template = setting(module, FAMILY, "ctze", str, '+CTZE: "{tz}",{dst},"{time}"')
        module.raise_urc(template.format(**values), now)


#: Every event class ``_on_event`` looks at: the module hands it only these.
OBSERVED_EVENTS: EventTypes = (NetworkTimeReceived, RegistrationChanged)


def _on_event(module: VirtualModule, event: ModuleEvent, now: float) -> None:
    if isinstance(event, NetworkTimeReceived):
        _receive(module, event, now)
    elif (
        isinstance(event, RegistrationChanged)
        and event.registered
        and setting(module, FAMILY, "on_register", bool, True)
    ):
        tz = setting(module, FAMILY, "tz_quarters", int, 0)
        dst = setting(module, FAMILY, "dst", int, 0)
        module.network_time(now, tz_quarters=tz, dst=dst)


def attach(module: VirtualModule) -> None:
    module.observe(lambda event, now: _on_event(module, event, now), OBSERVED_EVENTS)


def register(registry: CommandRegistry) -> None:
    registry.add("+CTZR", Form.READ, ctzr_read)
    registry.add("+CTZR", Form.WRITE, ctzr_write)
    registry.add("+CTZR", Form.TEST, ctzr_test)
    registry.add("+CTZU", Form.READ, ctzu_read)
    registry.add("+CTZU", Form.WRITE, ctzu_write)
    registry.add("+CTZU", Form.TEST, ctzu_test)
    registry.add("+QLTS", Form.EXEC, qlts_exec)
    registry.add("+QLTS", Form.WRITE, qlts_write)
    registry.add("+QLTS", Form.TEST, qlts_test)
