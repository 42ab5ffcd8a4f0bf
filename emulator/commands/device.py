"""Device-level Quectel and 27.007 commands: AT+QGMR, AT+CLAC (27.007 §8.37), AT+CPAS
(§8.1), AT+CEER (§6.10), AT+QPOWD, AT+QSCLK, AT+QURCCFG and AT+QCFG (Quectel LTE Standard
AT manuals). Profile section ``device`` holds what differs between firmware builds.
"""

from __future__ import annotations

from typing import Any

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form, Value
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import (
    NvSettings,
    int_list,
    range_text,
    section,
    setting,
    str_list,
    volatile,
)
from emulator.module.events import PowerDownCause
from emulator.module.profile import ProfileError
from emulator.module.virtual import VirtualModule

FAMILY = "device"


# ------------------------------------------------------------------------------ identity
def qgmr(ctx: CommandContext, args: Args) -> list[str]:
    """The full firmware version: the revision plus the build suffix (``device.qgmr``)."""
    module = ctx.module
    template = setting(module, FAMILY, "qgmr", str, "{revision}_01.200.01.200")
    return [template.format(revision=module.identity.revision)]


def clac(ctx: CommandContext, args: Args) -> list[str]:
    """Every command this build answers (27.007 §8.37: one per line, with the AT prefix),
    i.e. exactly what the profile's families and command list enable."""
    prefix = setting(ctx.module, FAMILY, "clac_prefix", str, "AT")
    return [prefix + name for name in sorted(ctx.module.engine.registry.names())]


# ------------------------------------------------------------------------------- status
def cpas(ctx: CommandContext, args: Args) -> list[str]:
    """<pas> 0 ready (the emulator has no voice calls: never 3 ringing or 4 in call)."""
    return ["+CPAS: 0"]


def cpas_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CPAS: " + range_text(int_list(ctx.module, FAMILY, "cpas_values", [0, 3, 4]))]


def ceer(ctx: CommandContext, args: Args) -> list[str]:
    """The cause of the last failed call or PDP/attach operation; the profile's
    ``device.ceer_none`` when nothing failed since boot."""
    module = ctx.module
    none = setting(module, FAMILY, "ceer_none", str, "No cause information available")
    template = setting(module, FAMILY, "ceer_line", str, '+CEER: "{text}"')
    return [template.format(text=module.last_failure or none)]


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of an action command without parameters: OK (V.250 §5.4.3)."""


# -------------------------------------------------------------------------------- power
def qpowd(ctx: CommandContext, args: Args) -> None:
    """``AT+QPOWD[=<n>]``: OK, then ``POWERED DOWN`` once the module has deregistered (0
    immediately, 1 normal, the default); the port is dead afterwards."""
    args.count(0, 1)
    mode = args.int(0, 0, 1, default=1)
    module = ctx.module
    key = "power_down_normal_ms" if mode == 1 else "power_down_immediate_ms"
    delay = setting(module, FAMILY, key, float, 300.0 if mode == 1 else 0.0) / 1000.0
    cause = PowerDownCause.AT_QPOWD_NORMAL if mode == 1 else PowerDownCause.AT_QPOWD_IMMEDIATE
    module.call_at(ctx.now + delay, lambda now: module.power_down(now, cause))


def qpowd_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QPOWD: (0,1)"]


def _qsclk(module: VirtualModule) -> list[int]:
    return volatile(module, "device.qsclk", lambda: [0])  # not saved: 0 after every boot


def qsclk_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QSCLK: {_qsclk(ctx.module)[0]}"]


def qsclk_write(ctx: CommandContext, args: Args) -> None:
    """Sleep is governed by DTR/WAKEUP_IN pins a pseudo-terminal does not have: the
    setting is kept and reported, the port stays awake."""
    args.count(1)
    values = int_list(ctx.module, FAMILY, "qsclk_values", [0, 1])
    _qsclk(ctx.module)[0] = args.int(0, 0, max(values), allowed=values)


def qsclk_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QSCLK: " + range_text(int_list(ctx.module, FAMILY, "qsclk_values", [0, 1]))]


# ---------------------------------------------------------------------------- URC port
def _urc_ports(module: VirtualModule) -> list[str]:
    return str_list(module, FAMILY, "urc_ports", ["usbat", "usbmodem", "uart1", "uart2", "all"])


def _urcport(module: VirtualModule) -> NvSettings:
    default = setting(module, FAMILY, "urc_port_default", str, "usbat")
    return NvSettings(module, FAMILY, {"urcport": default})


def _apply_urc_port(module: VirtualModule) -> None:
    """URCs reach this port only when it is the configured URC port (or "all")."""
    this_port = setting(module, FAMILY, "this_port", str, "usbat")
    port = _urcport(module).get("urcport")
    module.engine.urcs_here = port in (this_port, "all")


def qurccfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QURCCFG="urcport"[,<port>]``: without a port it reads; saved automatically."""
    args.count(1, 2)
    args.str(0, max_len=16, choices=("urcport",), case_insensitive=True)
    settings = _urcport(ctx.module)
    if len(args) == 1:
        return [f'+QURCCFG: "urcport","{settings.get("urcport")}"']
    port = args.str(1, max_len=16, choices=_urc_ports(ctx.module), case_insensitive=True)
    settings.set("urcport", port)
    _apply_urc_port(ctx.module)
    return None


def qurccfg_test(ctx: CommandContext, args: Args) -> list[str]:
    ports = ",".join(f'"{p}"' for p in _urc_ports(ctx.module))
    return [f'+QURCCFG: "urcport",({ports})']


# -------------------------------------------------------------------------------- QCFG
class QcfgParam:
    """One parameter of a QCFG sub-command, from the profile: ``{"values": [0,1,3]}``,
    ``{"range": [0, 255]}`` or ``{"choices": ["usbat", ...]}``."""

    def __init__(self, where: str, spec: Any) -> None:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ProfileError(f"{where}: a parameter is one of values/range/choices")
        ((self.kind, data),) = spec.items()
        ok = isinstance(data, list) and (
            (self.kind == "values" and all(type(v) is int for v in data) and data)
            or (self.kind == "range" and len(data) == 2 and all(type(v) is int for v in data))
            or (self.kind == "choices" and all(isinstance(v, str) for v in data) and data)
        )
        if not ok:
            raise ProfileError(f"{where}: bad parameter {spec!r}")
        self.data: list[Any] = data

    def check(self, args: Args, index: int) -> Value:
        if self.kind == "values":
            return args.int(index, min(self.data), max(self.data), allowed=self.data)
        if self.kind == "range":
            return args.int(index, self.data[0], self.data[1])
        return args.str(index, max_len=64, choices=self.data, case_insensitive=True)

    def test_text(self) -> str:
        if self.kind == "values":
            return range_text(self.data)
        if self.kind == "range":
            return f"({self.data[0]}-{self.data[1]})"
        return "(" + ",".join(f'"{c}"' for c in self.data) + ")"


class QcfgSub:
    def __init__(self, name: str, spec: Any, where: str) -> None:
        if not isinstance(spec, dict):
            raise ProfileError(f"{where}: sub-command {name!r} is an object")
        self.name = name
        self.params = [QcfgParam(f"{where} {name}", p) for p in spec.get("params", [])]
        defaults = spec.get("defaults", [])
        if not isinstance(defaults, list) or len(defaults) != len(self.params):
            raise ProfileError(f"{where} {name}: one default per parameter")
        self.defaults: list[Value] = defaults
        self.effect = bool(spec.get("effect", False))  # trailing <effect> 0 reboot / 1 now

    @staticmethod
    def render(value: Value) -> str:
        return f'"{value}"' if isinstance(value, str) else str(value)


def _qcfg_subs(module: VirtualModule) -> dict[str, QcfgSub]:
    raw = section(module, FAMILY).get("qcfg", {})
    where = f"profile {module.profile.name}: device.qcfg"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} maps sub-command names to their parameters")
    return {name.lower(): QcfgSub(name, spec, where) for name, spec in raw.items()}


def qcfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    """``AT+QCFG="<name>"`` reads, ``AT+QCFG="<name>",<values>[,<effect>]`` writes. Every
    value is stored (saved automatically) and read back; the emulated radio does not act
    on them (e.g. a scan mode that excludes LTE does not drop the registration)."""
    if len(args) < 1:
        raise IncorrectParameters("AT+QCFG needs a sub-command")
    subs = _qcfg_subs(ctx.module)
    name = args.str(0, max_len=32, choices=[s.name for s in subs.values()], case_insensitive=True)
    sub = subs[name.lower()]
    store = NvSettings(ctx.module, FAMILY, {f"qcfg.{sub.name}": sub.defaults})
    key = f"qcfg.{sub.name}"
    if len(args) == 1:
        values = store.get(key)
        return [f'+QCFG: "{sub.name}",' + ",".join(sub.render(v) for v in values)]
    n = len(sub.params)
    args.count(1 + n, 1 + n + (1 if sub.effect else 0))
    values = [p.check(args, 1 + i) for i, p in enumerate(sub.params)]
    if sub.effect:
        args.int(1 + n, 0, 1, default=0)
    store.set(key, values)
    return None


def qcfg_test(ctx: CommandContext, args: Args) -> list[str]:
    lines = []
    for sub in _qcfg_subs(ctx.module).values():
        parts = [f'"{sub.name}"', *(p.test_text() for p in sub.params)]
        if sub.effect:
            parts.append("(0,1)")
        lines.append("+QCFG: " + ",".join(parts))
    return lines


def attach(module: VirtualModule) -> None:
    """The URC port setting is saved: apply it when the module is created."""
    _apply_urc_port(module)


def register(registry: CommandRegistry) -> None:
    registry.add("+QGMR", Form.EXEC, qgmr)
    registry.add("+QGMR", Form.TEST, empty)
    registry.add("+CLAC", Form.EXEC, clac)
    registry.add("+CLAC", Form.TEST, empty)
    registry.add("+CPAS", Form.EXEC, cpas)
    registry.add("+CPAS", Form.TEST, cpas_test)
    registry.add("+CEER", Form.EXEC, ceer)
    registry.add("+CEER", Form.TEST, empty)
    registry.add("+QPOWD", Form.EXEC, qpowd)
    registry.add("+QPOWD", Form.WRITE, qpowd)
    registry.add("+QPOWD", Form.TEST, qpowd_test)
    registry.add("+QSCLK", Form.READ, qsclk_read)
    registry.add("+QSCLK", Form.WRITE, qsclk_write)
    registry.add("+QSCLK", Form.TEST, qsclk_test)
    registry.add("+QURCCFG", Form.WRITE, qurccfg_write)
    registry.add("+QURCCFG", Form.TEST, qurccfg_test)
    registry.add("+QCFG", Form.WRITE, qcfg_write)
    registry.add("+QCFG", Form.TEST, qcfg_test)
