"""Network: AT+CSQ (27.007 §8.5), AT+CREG (§7.2), AT+CEREG (§10.1.22), AT+COPS (§7.3)."""

from __future__ import annotations

from emulator.at.errors import OperationNotAllowed
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, Handler
from emulator.commands.context import CommandContext
from emulator.module.state import Functionality


def csq(ctx: CommandContext, args: Args) -> list[str]:
    radio = ctx.module.radio
    if radio.fun is not Functionality.FULL or not radio.coverage:
        return ["+CSQ: 99,99"]
    return [f"+CSQ: {radio.rssi},{radio.ber}"]


def csq_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CSQ: (0-31,99),(0-7,99)"]


def _reg_read(name: str, mode_attr: str) -> Handler:
    def read(ctx: CommandContext, args: Args) -> list[str]:
        mode = getattr(ctx.module.radio, mode_attr)
        return [f"{name}: {mode},{ctx.module.registration_fields(mode, True)}"]

    return read


def _reg_write(mode_attr: str) -> Handler:
    def write(ctx: CommandContext, args: Args) -> None:
        args.count(1)
        setattr(ctx.module.radio, mode_attr, args.int(0, 0, 2))

    return write


def _reg_test(name: str) -> Handler:
    def test(ctx: CommandContext, args: Args) -> list[str]:
        return [f"{name}: (0-2)"]

    return test


def _operator_name(ctx: CommandContext) -> str:
    net = ctx.module.profile.network
    fmt = ctx.module.radio.cops_format
    return (net.operator_long, net.operator_short, net.operator_numeric)[fmt]


def cops_read(ctx: CommandContext, args: Args) -> list[str]:
    """``+COPS: <mode>[,<format>,<oper>,<AcT>]``; only the mode while unregistered."""
    if not ctx.module.radio.registered:
        return ["+COPS: 0"]
    net = ctx.module.profile.network
    return [f'+COPS: 0,{ctx.module.radio.cops_format},"{_operator_name(ctx)}",{net.act}']


def cops_write(ctx: CommandContext, args: Args) -> None:
    """Automatic selection (0) is what the emulator does, and 3 sets the <format> of the
    read form (27.007 §7.3: 0 long, 1 short alphanumeric, 2 numeric). Manual selection is
    refused rather than faked, and 2 (deregister) is CFUN=4's job on these modules."""
    args.count(1, 4)
    mode = args.int(0, 0, 4)
    if mode == 3:
        args.count(2)
        ctx.module.radio.cops_format = args.int(1, 0, 2)
        return
    if mode != 0:
        raise OperationNotAllowed("only automatic operator selection is emulated")
    if args.present(1):
        ctx.module.radio.cops_format = args.int(1, 0, 2)


def cops_test(ctx: CommandContext, args: Args) -> list[str]:
    net = ctx.module.profile.network
    if not ctx.module.radio.coverage or ctx.module.radio.fun is not Functionality.FULL:
        return ["+COPS: ,,(0-4),(0-2)"]
    return [
        f'+COPS: (2,"{net.operator_long}","{net.operator_short}","{net.operator_numeric}",'
        f"{net.act}),,(0-4),(0-2)"
    ]


def register(registry: CommandRegistry) -> None:
    registry.add("+CSQ", Form.EXEC, csq)
    registry.add("+CSQ", Form.TEST, csq_test)
    for name, attr in (("+CREG", "creg_mode"), ("+CEREG", "cereg_mode")):
        registry.add(name, Form.READ, _reg_read(name, attr))
        registry.add(name, Form.WRITE, _reg_write(attr))
        registry.add(name, Form.TEST, _reg_test(name))
    registry.add("+COPS", Form.READ, cops_read)
    registry.add("+COPS", Form.WRITE, cops_write)
    registry.add("+COPS", Form.TEST, cops_test)
