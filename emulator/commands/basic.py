"""V.250 basic settings: ATE, ATV, ATQ, AT&W, ATZ, AT&F, and AT+CMEE (27.007 §9.1)."""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext


def _flag(args: Args, name: str) -> bool:
    """ATE, ATV and ATQ take 0 or 1; no digit means 0 (V.250 §6.2.4, §6.2.5, §6.2.6)."""
    value = args.values[0] if args.values else 0
    if value not in (0, 1):
        raise IncorrectParameters(f"AT{name} takes 0 or 1")
    return value == 1


def echo(ctx: CommandContext, args: Args) -> None:
    ctx.module.engine.settings.echo = _flag(args, "E")


def verbose(ctx: CommandContext, args: Args) -> None:
    ctx.module.engine.settings.verbose = _flag(args, "V")


def quiet(ctx: CommandContext, args: Args) -> None:
    ctx.module.engine.settings.quiet = _flag(args, "Q")


def save(ctx: CommandContext, args: Args) -> None:
    if args.values and args.values[0] != 0:
        raise IncorrectParameters("AT&W takes only profile 0")
    ctx.module.save_settings()


def restore_saved(ctx: CommandContext, args: Args) -> None:
    if args.values and args.values[0] != 0:
        raise IncorrectParameters("ATZ takes only profile 0")
    ctx.module.restore_settings(factory=False)


def restore_factory(ctx: CommandContext, args: Args) -> None:
    if args.values and args.values[0] != 0:
        raise IncorrectParameters("AT&F takes only 0")
    ctx.module.restore_settings(factory=True)


def cmee_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    ctx.module.engine.settings.cmee = args.int(0, 0, 2)


def cmee_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CMEE: {ctx.module.engine.settings.cmee}"]


def cmee_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CMEE: (0-2)"]


def register(registry: CommandRegistry) -> None:
    registry.add("E", Form.EXEC, echo)
    registry.add("V", Form.EXEC, verbose)
    registry.add("Q", Form.EXEC, quiet)
    registry.add("&W", Form.EXEC, save)
    registry.add("Z", Form.EXEC, restore_saved)
    registry.add("&F", Form.EXEC, restore_factory)
    registry.add("+CMEE", Form.WRITE, cmee_write)
    registry.add("+CMEE", Form.READ, cmee_read)
    registry.add("+CMEE", Form.TEST, cmee_test)
