"""Network and packet-domain information: AT+QCSQ, AT+QNWINFO, AT+QENG (Quectel LTE
Standard AT manuals), AT+CGREG (27.007 §10.1.20), AT+CGATT (§10.1.9), AT+CGPADDR
(§10.1.14), AT+CPSMS (§7.38) and AT+CEDRXS (§7.40).

The serving cell is the profile's ``network`` section plus the ``netinfo`` section (band,
EARFCN, PCI, RSRP/RSRQ/SINR at the profile's signal); the measured values follow the
signal the world sets (``VirtualModule.set_signal``): RSSI, RSRP move with it in dB.
"""

from __future__ import annotations

import re

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import NvSettings, int_list, range_text, setting, volatile
from emulator.module.events import ModuleEvent, RegistrationChanged
from emulator.module.routing import EventTypes
from emulator.module.state import RegStat
from emulator.module.virtual import VirtualModule

FAMILY = "netinfo"
MAX_CID = 15


# ------------------------------------------------------------------------- measurements
def _rssi_dbm(module: VirtualModule) -> int:
    """27.007 §8.5 <rssi> 0..31 is -113..-51 dBm in 2 dB steps."""
    return -113 + 2 * module.radio.rssi


def _offset_db(module: VirtualModule) -> int:
    """How far the current signal is from the profile's (both as <rssi>)."""
    return 2 * (module.radio.rssi - module.profile.network.rssi)


def _in_service(module: VirtualModule) -> bool:
    radio = module.radio
    return radio.registered and radio.coverage and radio.rssi != 99


def qcsq(ctx: CommandContext, args: Args) -> list[str]:
    """``+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`` (dBm, dBm, 1/5 dB from -20 dB, dB), or
    ``+QCSQ: "NOSERVICE"``."""
    module = ctx.module
    if not _in_service(module):
        return ['+QCSQ: "NOSERVICE"']
    rsrp = setting(module, FAMILY, "rsrp", int, -85) + _offset_db(module)
    sinr = setting(module, FAMILY, "sinr", int, 15)
    rsrq = setting(module, FAMILY, "rsrq", int, -9)
    return [f'+QCSQ: "LTE",{_rssi_dbm(module)},{rsrp},{(sinr + 20) * 5},{rsrq}']


def qcsq_test(ctx: CommandContext, args: Args) -> list[str]:
    return [setting(ctx.module, FAMILY, "qcsq_test", str, '+QCSQ: "NOSERVICE","GSM","LTE"')]


def qnwinfo(ctx: CommandContext, args: Args) -> list[str]:
    """``+QNWINFO: <AcT>,<oper>,<band>,<channel>``, or ``+QNWINFO: No Service``."""
    module = ctx.module
    if not _in_service(module):
        return ["+QNWINFO: No Service"]
    act = setting(module, FAMILY, "act_name", str, "FDD LTE")
    band = setting(module, FAMILY, "band", int, 3)
    earfcn = setting(module, FAMILY, "earfcn", int, 1650)
    oper = module.profile.network.operator_numeric
    return [f'+QNWINFO: "{act}","{oper}","LTE BAND {band}",{earfcn}']


def qeng_write(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+QENG="servingcell"``: one line in the LTE layout Quectel's Cat-1 modules print:
    state, "LTE", duplex, MCC, MNC, cell ID and TAC in hex, PCI, EARFCN, band, UL/DL
    bandwidth, RSRP, RSRQ, RSSI, SINR, srxlev. ``"neighbourcell"`` lists none: the emulated
    network has one cell."""
    args.count(1)
    which = args.str(0, max_len=16, choices=("servingcell", "neighbourcell"), case_insensitive=True)
    module = ctx.module
    if which == "neighbourcell":
        return []
    radio = module.radio
    if radio.stat is RegStat.DENIED:
        return ['+QENG: "servingcell","LIMSRV"']
    if not _in_service(module):
        return ['+QENG: "servingcell","SEARCH"']
    net = module.profile.network
    mcc, mnc = net.operator_numeric[:3], net.operator_numeric[3:]
    act_name = setting(module, FAMILY, "act_name", str, "FDD LTE")
    duplex = "TDD" if act_name.startswith("TDD") else "FDD"
    offset = _offset_db(module)
    fields = [
        '"servingcell"',
        '"NOCONN"',
        '"LTE"',
        f'"{duplex}"',
        mcc,
        mnc,
        f"{int(net.cell_id, 16):X}",
        str(setting(module, FAMILY, "pci", int, 366)),
        str(setting(module, FAMILY, "earfcn", int, 1650)),
        str(setting(module, FAMILY, "band", int, 3)),
        str(setting(module, FAMILY, "ul_bandwidth", int, 5)),
        str(setting(module, FAMILY, "dl_bandwidth", int, 5)),
        f"{int(net.tac, 16):X}",
        str(setting(module, FAMILY, "rsrp", int, -85) + offset),
        str(setting(module, FAMILY, "rsrq", int, -9)),
        str(_rssi_dbm(module)),
        str(setting(module, FAMILY, "sinr", int, 15)),
        str(setting(module, FAMILY, "srxlev", int, 40) + offset),
    ]
    return ["+QENG: " + ",".join(fields)]


def qeng_test(ctx: CommandContext, args: Args) -> list[str]:
    return ['+QENG: ("servingcell","neighbourcell")']


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of an action command without parameters: OK."""


# -------------------------------------------------------------------------------- CGREG
def _cgreg_mode(module: VirtualModule) -> list[int]:
    return volatile(module, "netinfo.cgreg", lambda: [0])


def cgreg_read(ctx: CommandContext, args: Args) -> list[str]:
    mode = _cgreg_mode(ctx.module)[0]
    return [f"+CGREG: {mode},{ctx.module.registration_fields(mode, True)}"]


def cgreg_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _cgreg_mode(ctx.module)[0] = args.int(0, 0, 2)


def cgreg_exec(ctx: CommandContext, args: Args) -> None:
    """``AT+CGREG`` alone sets <n>=0 (Quectel manuals: ``AT+CGREG[=<n>]``)."""
    _cgreg_mode(ctx.module)[0] = 0


def cgreg_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CGREG: (0-2)"]


#: Every event class ``_on_event`` looks at: the module hands it only these.
OBSERVED_EVENTS: EventTypes = (RegistrationChanged,)


def _on_event(module: VirtualModule, event: ModuleEvent, now: float) -> None:
    if isinstance(event, RegistrationChanged):
        mode = _cgreg_mode(module)[0]
        if mode >= 1:
            module.raise_urc(f"+CGREG: {module.registration_fields(mode, True)}", now)


# -------------------------------------------------------------------------------- CGATT
def cgatt_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CGATT: {int(ctx.module.radio.registered)}"]


def cgatt_write(ctx: CommandContext, args: Args) -> None:
    """Attach needs a SIM and a cell (the radio machine refuses with +CME ERROR 10 / 30 at
    once instead of the hardware's up to 140 s of trying); detach drops every PDP context."""
    args.count(1)
    ctx.module.set_ps_attach(args.int(0, 0, 1) == 1, ctx.now)


def cgatt_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CGATT: (0,1)"]


# ------------------------------------------------------------------------------ CGPADDR
def _address_line(module: VirtualModule, cid: int) -> str:
    context = module.radio.contexts[cid]
    if context.address is None:
        return f"+CGPADDR: {cid}"  # 27.007: no address, <PDP_addr> omitted
    return f'+CGPADDR: {cid},"{context.address}"'


def cgpaddr_exec(ctx: CommandContext, args: Args) -> list[str]:
    return [_address_line(ctx.module, cid) for cid in sorted(ctx.module.radio.contexts)]


def cgpaddr_write(ctx: CommandContext, args: Args) -> list[str]:
    """Addresses of the listed contexts; a context that is not defined has none to list."""
    args.count(1, MAX_CID)
    cids = [args.int(i, 1, MAX_CID) for i in range(len(args))]
    defined = ctx.module.radio.contexts
    return [_address_line(ctx.module, cid) for cid in cids if cid in defined]


def cgpaddr_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CGPADDR: (" + ",".join(str(c) for c in sorted(ctx.module.radio.contexts)) + ")"]


# ---------------------------------------------------------------------- PSM and eDRX
_BITS8 = re.compile(r"^[01]{8}$")
_BITS4 = re.compile(r"^[01]{4}$")
PSM_DEFAULTS: dict[str, object] = {
    "psm_mode": 0,
    "psm_rau": "",
    "psm_ready": "",
    "psm_tau": "00000000",
    "psm_active": "00000000",
}


def _psm(module: VirtualModule) -> NvSettings:
    defaults = dict(PSM_DEFAULTS)
    defaults["psm_tau"] = setting(module, FAMILY, "psm_tau_default", str, "00000000")
    defaults["psm_active"] = setting(module, FAMILY, "psm_active_default", str, "00000000")
    return NvSettings(module, FAMILY, defaults)


def _timer(args: Args, index: int, pattern: re.Pattern[str], current: str) -> str:
    if not args.present(index):
        return current
    value = args.str(index, max_len=8)
    if not pattern.match(value):
        width = 8 if pattern is _BITS8 else 4
        raise IncorrectParameters(f"parameter {index + 1} is {width} bits as a string of 0/1")
    return value


def cpsms_read(ctx: CommandContext, args: Args) -> list[str]:
    p = _psm(ctx.module)
    rau, ready = p.get("psm_rau"), p.get("psm_ready")
    rau_text = f'"{rau}"' if rau else ""
    ready_text = f'"{ready}"' if ready else ""
    return [
        f"+CPSMS: {p.get('psm_mode')},{rau_text},{ready_text},"
        f'"{p.get("psm_tau")}","{p.get("psm_active")}"'
    ]


def cpsms_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CPSMS=[<mode>[,<RAU>[,<READY>[,<TAU>[,<Active-Time>]]]]]``; mode 2 disables PSM
    and resets every value to its default. Saved automatically."""
    args.count(1, 5)
    p = _psm(ctx.module)
    mode = args.int(0, 0, 2, default=0)
    if mode == 2:
        for key in PSM_DEFAULTS:
            p.reset(key)
        return
    rau = _timer(args, 1, _BITS8, p.get("psm_rau"))
    ready = _timer(args, 2, _BITS8, p.get("psm_ready"))
    tau = _timer(args, 3, _BITS8, p.get("psm_tau"))
    active = _timer(args, 4, _BITS8, p.get("psm_active"))
    for key, value in (
        ("psm_mode", mode),
        ("psm_rau", rau),
        ("psm_ready", ready),
        ("psm_tau", tau),
        ("psm_active", active),
    ):
        p.set(key, value)


def cpsms_test(ctx: CommandContext, args: Args) -> list[str]:
    span = '("00000000"-"11111111")'
    return [f"+CPSMS: (0-2),{span},{span},{span},{span}"]


def _edrx(module: VirtualModule) -> NvSettings:
    default = setting(module, FAMILY, "edrx_default", str, "0000")
    return NvSettings(module, FAMILY, {"edrx_mode": 0, "edrx_value": default})


def _edrx_acts(module: VirtualModule) -> list[int]:
    return int_list(module, FAMILY, "edrx_act_types", [4])  # 4: E-UTRAN (WB-S1 mode)


def cedrxs_read(ctx: CommandContext, args: Args) -> list[str]:
    e = _edrx(ctx.module)
    return [f'+CEDRXS: {act},"{e.get("edrx_value")}"' for act in _edrx_acts(ctx.module)]


def cedrxs_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CEDRXS=[<mode>[,<AcT-type>[,<Requested_eDRX_value>]]]``; mode 3 disables eDRX
    and resets the requested value. Saved automatically."""
    args.count(1, 3)
    e = _edrx(ctx.module)
    mode = args.int(0, 0, 3, default=0)
    acts = _edrx_acts(ctx.module)
    if args.present(1):
        args.int(1, min(acts), max(acts), allowed=acts)
    if mode == 3:
        e.reset("edrx_mode")
        e.reset("edrx_value")
        return
    value = _timer(args, 2, _BITS4, e.get("edrx_value"))
    e.set("edrx_mode", mode)
    e.set("edrx_value", value)


def cedrxs_test(ctx: CommandContext, args: Args) -> list[str]:
    acts = range_text(_edrx_acts(ctx.module))
    return [f'+CEDRXS: (0-3),{acts},("0000"-"1111")']


def attach(module: VirtualModule) -> None:
    module.observe(lambda event, now: _on_event(module, event, now), OBSERVED_EVENTS)


def register(registry: CommandRegistry) -> None:
    registry.add("+QCSQ", Form.EXEC, qcsq)
    registry.add("+QCSQ", Form.TEST, qcsq_test)
    registry.add("+QNWINFO", Form.EXEC, qnwinfo)
    registry.add("+QNWINFO", Form.TEST, empty)
    registry.add("+QENG", Form.WRITE, qeng_write)
    registry.add("+QENG", Form.TEST, qeng_test)
    registry.add("+CGREG", Form.READ, cgreg_read)
    registry.add("+CGREG", Form.WRITE, cgreg_write)
    registry.add("+CGREG", Form.EXEC, cgreg_exec)
    registry.add("+CGREG", Form.TEST, cgreg_test)
    registry.add("+CGATT", Form.READ, cgatt_read)
    registry.add("+CGATT", Form.WRITE, cgatt_write)
    registry.add("+CGATT", Form.TEST, cgatt_test)
    registry.add("+CGPADDR", Form.EXEC, cgpaddr_exec)
    registry.add("+CGPADDR", Form.WRITE, cgpaddr_write)
    registry.add("+CGPADDR", Form.TEST, cgpaddr_test)
    registry.add("+CPSMS", Form.READ, cpsms_read)
    registry.add("+CPSMS", Form.WRITE, cpsms_write)
    registry.add("+CPSMS", Form.TEST, cpsms_test)
    registry.add("+CEDRXS", Form.READ, cedrxs_read)
    registry.add("+CEDRXS", Form.WRITE, cedrxs_write)
    registry.add("+CEDRXS", Form.TEST, cedrxs_test)
