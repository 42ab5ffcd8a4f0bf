"""Real-time clock: AT+CCLK (27.007 §8.15), ``"yy/MM/dd,hh:mm:ss±zz"`` with the time
zone in quarters of an hour."""

from __future__ import annotations

import datetime as dt
import re

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext

_CCLK = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)$")


def format_cclk(unix_time: float, quarters: int) -> str:
    local = dt.datetime.fromtimestamp(unix_time, dt.UTC) + dt.timedelta(minutes=15 * quarters)
    sign = "+" if quarters >= 0 else "-"
    return local.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


def parse_cclk(text: str) -> tuple[float, int]:
    """The Unix time and zone (quarters) of a CCLK string; raises CME 50 when malformed."""
    m = _CCLK.match(text)
    if m is None:
        raise IncorrectParameters('time must be "yy/MM/dd,hh:mm:ss±zz"')
    yy, mo, dd, hh, mi, ss, zz = m.groups()
    quarters = int(zz)
    if not -48 <= quarters <= 56:
        raise IncorrectParameters("time zone out of range")
    try:
        local = dt.datetime(
            2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=dt.UTC
        )
    except ValueError as exc:
        raise IncorrectParameters(f"invalid date: {exc}") from exc
    return (local - dt.timedelta(minutes=15 * quarters)).timestamp(), quarters


def cclk_read(ctx: CommandContext, args: Args) -> list[str]:
    module = ctx.module
    return [f'+CCLK: "{format_cclk(module.unix_time(ctx.now), module.utc_offset_quarters)}"']


def cclk_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    unix, quarters = parse_cclk(args.str(0, max_len=20))
    ctx.module.set_unix_time(unix, ctx.now, utc_offset_quarters=quarters)


def cclk_test(ctx: CommandContext, args: Args) -> None:
    """Test form: OK."""


def register(registry: CommandRegistry) -> None:
    registry.add("+CCLK", Form.READ, cclk_read)
    registry.add("+CCLK", Form.WRITE, cclk_write)
    registry.add("+CCLK", Form.TEST, cclk_test)
