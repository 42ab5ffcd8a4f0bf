"""PDP contexts: AT+CGDCONT (27.007 §10.1.1), AT+CGACT (§10.1.10), and Quectel's
AT+QICSGP / AT+QIACT / AT+QIDEACT (TCP/IP application note), all on one context table."""

from __future__ import annotations

from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.at.text import at_string
from emulator.commands.context import CommandContext
from emulator.module.radio import PdpInput
from emulator.module.state import PdpContext

PDP_TYPES = ("IP", "IPV6", "IPV4V6")
MAX_CID = 15
QI_TYPES = {1: "IP", 2: "IPV6", 3: "IPV4V6"}  # AT+QICSGP <context_type>


def cgdcont_read(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f'+CGDCONT: {c.cid},"{c.pdp_type}","{at_string(c.apn)}","{c.address or "0.0.0.0"}",0,0,0,0'
        for c in sorted(ctx.module.radio.contexts.values(), key=lambda c: c.cid)
    ]


def cgdcont_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CGDCONT=<cid>`` alone undefines the context (27.007 §10.1.1)."""
    args.count(1, 8)
    cid = args.int(0, 1, MAX_CID)
    module = ctx.module
    module.machine.check_context(cid, PdpInput.DEFINE)  # an active context, before the rest
    if len(args) == 1:
        module.undefine_context(cid, ctx.now)
        return
    pdp_type = args.str(1, max_len=8, choices=PDP_TYPES, case_insensitive=True)
    apn = args.str(2, max_len=99, default="")
    module.define_context(PdpContext(cid=cid, pdp_type=pdp_type, apn=apn), ctx.now)


def cgdcont_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+CGDCONT: (1-{MAX_CID}),"{t}",,,(0-2),(0-4),(0,1),(0,1)' for t in PDP_TYPES]


def cgact_read(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f"+CGACT: {c.cid},{int(c.active)}"
        for c in sorted(ctx.module.radio.contexts.values(), key=lambda c: c.cid)
    ]


def cgact_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CGACT=<state>[,<cid>[,...]]``; no cid means every defined context."""
    args.count(1, 1 + MAX_CID)
    state = args.int(0, 0, 1)
    cids = [args.int(i, 1, MAX_CID) for i in range(1, len(args))] or sorted(
        ctx.module.radio.contexts
    )
    for cid in cids:
        if state:
            ctx.module.activate_pdp(cid, ctx.now)
        else:
            ctx.module.deactivate_pdp(cid, ctx.now)


def cgact_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CGACT: (0,1)"]


def qicsgp_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QICSGP=<cid>[,<type>,<APN>,<user>,<password>[,<auth>]]``; cid alone reads."""
    args.count(1, 6)
    cid = args.int(0, 1, MAX_CID)
    contexts = ctx.module.radio.contexts
    if len(args) == 1:
        c = contexts.get(cid) or PdpContext(cid=cid, pdp_type="IP", apn="")
        type_no = {v: k for k, v in QI_TYPES.items()}.get(c.pdp_type, 1)
        return [
            f'+QICSGP: {type_no},"{at_string(c.apn)}","{at_string(c.username)}",'
            f'"{at_string(c.password)}",{c.auth}'
        ]
    pdp_type = QI_TYPES[args.int(1, 1, 3)]
    apn = args.str(2, max_len=99, default="")
    user = args.str(3, max_len=127, default="")
    password = args.str(4, max_len=127, default="")
    auth = args.int(5, 0, 3, default=0)
    context = PdpContext(
        cid=cid, pdp_type=pdp_type, apn=apn, username=user, password=password, auth=auth
    )
    ctx.module.define_context(context, ctx.now)
    return None


def qicsgp_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QICSGP: (1-{MAX_CID}),(1-3),<APN>,<username>,<password>,(0-3)"]


def qiact_read(ctx: CommandContext, args: Args) -> list[str]:
    """``+QIACT: <cid>,<state>,<type>,"<ip>"`` per active context; nothing when none."""
    type_no = {v: k for k, v in QI_TYPES.items()}
    return [
        f'+QIACT: {c.cid},1,{type_no.get(c.pdp_type, 1)},"{c.address}"'
        for c in sorted(ctx.module.radio.contexts.values(), key=lambda c: c.cid)
        if c.active
    ]


def qiact_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    cid = args.int(0, 1, MAX_CID)
    ctx.module.activate_pdp(cid, ctx.now, exclusive=True)


def qideact_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    ctx.module.deactivate_pdp(args.int(0, 1, MAX_CID), ctx.now)


def qiact_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QIACT: (1-{MAX_CID})"]


def qideact_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QIDEACT: (1-{MAX_CID})"]


def register(registry: CommandRegistry) -> None:
    registry.add("+CGDCONT", Form.READ, cgdcont_read)
    registry.add("+CGDCONT", Form.WRITE, cgdcont_write)
    registry.add("+CGDCONT", Form.TEST, cgdcont_test)
    registry.add("+CGACT", Form.READ, cgact_read)
    registry.add("+CGACT", Form.WRITE, cgact_write)
    registry.add("+CGACT", Form.TEST, cgact_test)
    registry.add("+QICSGP", Form.WRITE, qicsgp_write)
    registry.add("+QICSGP", Form.TEST, qicsgp_test)
    registry.add("+QIACT", Form.READ, qiact_read)
    registry.add("+QIACT", Form.WRITE, qiact_write)
    registry.add("+QIACT", Form.TEST, qiact_test)
    registry.add("+QIDEACT", Form.WRITE, qideact_write)
    registry.add("+QIDEACT", Form.TEST, qideact_test)
