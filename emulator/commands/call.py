"""Call-related settings a modem driver sets up at boot: AT+CLIP (27.007 §7.6), AT+CRC
(§6.11), AT+CVHU (§6.20), AT+CNUM (§7.1) and AT+VTS (§C.11). The emulator has no voice
calls: the settings are kept and reported, and AT+VTS outside a call is "operation not
allowed".
"""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters, OperationNotAllowed, SimNotInserted
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import setting, volatile
from emulator.module.state import SimState
from emulator.module.virtual import VirtualModule

FAMILY = "call"
DTMF = frozenset("0123456789*#ABCDabcd")


def _settings(module: VirtualModule) -> dict[str, int]:
    """CLIP and CVHU are not saved: their defaults come back with every boot."""
    return volatile(
        module,
        "call.settings",
        lambda: {
            "clip": 0,
            "crc": 0,
            "cvhu": setting(module, FAMILY, "cvhu_default", int, 0),
        },
    )


def clip_read(ctx: CommandContext, args: Args) -> list[str]:
    """``+CLIP: <n>,<m>``; <m> the network's provisioning (``call.clip_provisioned``)."""
    provisioned = setting(ctx.module, FAMILY, "clip_provisioned", int, 1)
    return [f"+CLIP: {_settings(ctx.module)['clip']},{provisioned}"]


def clip_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _settings(ctx.module)["clip"] = args.int(0, 0, 1)


def clip_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CLIP: (0,1)"]


def cvhu_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CVHU: {_settings(ctx.module)['cvhu']}"]


def cvhu_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _settings(ctx.module)["cvhu"] = args.int(0, 0, 1)


def cvhu_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CVHU: (0,1)"]


def cnum(ctx: CommandContext, args: Args) -> list[str]:
    """``+CNUM: "",<number>,<type>`` (145 international with "+", else 129); no line when
    the SIM holds no MSISDN."""
    if ctx.module.radio.sim is SimState.NOT_INSERTED:
        raise SimNotInserted()
    number = ctx.module.identity.msisdn
    if not number:
        return []
    kind = 145 if number.startswith("+") else 129
    return [f'+CNUM: "","{number}",{kind}']


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of an action command without parameters: OK."""


def vts_write(ctx: CommandContext, args: Args) -> None:
    """``AT+VTS=<DTMF string>[,<duration>]``: checked, then refused (no call to send on)."""
    args.count(1, 2)
    first = args.values[0]
    # A single digit may come unquoted (AT+VTS=1), as hosts commonly send it.
    tones = str(first) if isinstance(first, int) and first >= 0 else args.str(0, max_len=64)
    if not tones or any(c not in DTMF for c in tones):
        raise IncorrectParameters("DTMF tones are 0-9, *, #, A-D")
    args.int(1, 1, 255, default=1)
    raise OperationNotAllowed("no call in progress")


def vts_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+VTS: (0-9,*,#,A,B,C,D),(1-255)"]


def crc_read(ctx: CommandContext, args: Args) -> list[str]:
    """AT+CRC (27.007 §6.11): extended incoming-call indication (+CRING); kept, as there
    are no calls to indicate."""
    return [f"+CRC: {_settings(ctx.module)['crc']}"]


def crc_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _settings(ctx.module)["crc"] = args.int(0, 0, 1)


def crc_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CRC: (0,1)"]


def register(registry: CommandRegistry) -> None:
    registry.add("+CRC", Form.READ, crc_read)
    registry.add("+CRC", Form.WRITE, crc_write)
    registry.add("+CRC", Form.TEST, crc_test)
    registry.add("+CLIP", Form.READ, clip_read)
    registry.add("+CLIP", Form.WRITE, clip_write)
    registry.add("+CLIP", Form.TEST, clip_test)
    registry.add("+CVHU", Form.READ, cvhu_read)
    registry.add("+CVHU", Form.WRITE, cvhu_write)
    registry.add("+CVHU", Form.TEST, cvhu_test)
    registry.add("+CNUM", Form.EXEC, cnum)
    registry.add("+CNUM", Form.TEST, empty)
    registry.add("+VTS", Form.WRITE, vts_write)
    registry.add("+VTS", Form.TEST, vts_test)
