"""Serial interface control: AT&C, AT&D (V.250 §6.2.8, §6.2.9), AT+IFC (§6.2.12), AT+IPR
(§6.2.10) and AT&V, as Quectel's LTE Standard AT manuals describe them.

The values live in the engine's settings (``EngineSettings.extra``), so AT&W saves them,
ATZ restores them and AT&F resets them to the profile's factory values (except the baud
rate, which AT&F leaves alone). On a pseudo-terminal the rate and flow control change
nothing on the wire; the module still keeps and reports them, as a host driver expects.
"""

from __future__ import annotations

from emulator.at.errors import IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import int_list, range_text, str_list
from emulator.module.profile import ProfileError
from emulator.module.virtual import VirtualModule

FAMILY = "serial"

# Factory values when a profile's "settings" do not name them (V.250 / Quectel defaults).
DEFAULTS = {"amp_c": 1, "amp_d": 2, "ifc_dce_by_dte": 0, "ifc_dte_by_dce": 0, "ipr": 115200}


def _value(module: VirtualModule, key: str) -> int:
    return module.engine.settings.extra.get(key, DEFAULTS[key])


def _set(module: VirtualModule, key: str, value: int) -> None:
    module.engine.settings.extra[key] = value


def _basic_value(args: Args, name: str, allowed: tuple[int, ...]) -> int:
    """AT&C / AT&D take an optional digit; none means 0 (V.250 §5.3.1)."""
    value = args.values[0] if args.values else 0
    if value not in allowed:
        raise IncorrectParameters(f"AT{name} takes {allowed}")
    assert isinstance(value, int)
    return value


def amp_c(ctx: CommandContext, args: Args) -> None:
    _set(ctx.module, "amp_c", _basic_value(args, "&C", (0, 1)))


def amp_d(ctx: CommandContext, args: Args) -> None:
    _set(ctx.module, "amp_d", _basic_value(args, "&D", (0, 1, 2)))


def _ifc_values(module: VirtualModule) -> list[int]:
    return int_list(module, FAMILY, "ifc_values", [0, 2])  # 0 none, 2 RTS/CTS


def ifc_read(ctx: CommandContext, args: Args) -> list[str]:
    m = ctx.module
    return [f"+IFC: {_value(m, 'ifc_dce_by_dte')},{_value(m, 'ifc_dte_by_dce')}"]


def ifc_write(ctx: CommandContext, args: Args) -> None:
    """``AT+IFC=<dce_by_dte>[,<dte_by_dce>]``; a missing second value keeps its setting."""
    args.count(1, 2)
    values = _ifc_values(ctx.module)
    hi = max(values)
    dce_by_dte = args.int(0, 0, hi, allowed=values)
    dte_by_dce = args.int(1, 0, hi, allowed=values, default=_value(ctx.module, "ifc_dte_by_dce"))
    _set(ctx.module, "ifc_dce_by_dte", dce_by_dte)
    _set(ctx.module, "ifc_dte_by_dce", dte_by_dce)


def ifc_test(ctx: CommandContext, args: Args) -> list[str]:
    text = range_text(_ifc_values(ctx.module))
    return [f"+IFC: {text},{text}"]


def _rates(module: VirtualModule) -> list[int]:
    return int_list(
        module,
        FAMILY,
        "ipr_rates",
        [0, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600],
    )


def ipr_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+IPR: {_value(ctx.module, 'ipr')}"]


def ipr_write(ctx: CommandContext, args: Args) -> None:
    """The rate takes effect after OK; 0 is automatic baud rate detection where listed."""
    args.count(1)
    rates = _rates(ctx.module)
    _set(ctx.module, "ipr", args.int(0, 0, max(rates), allowed=rates))


def ipr_test(ctx: CommandContext, args: Args) -> list[str]:
    """``+IPR: (auto-detectable rates),(fixed-only rates)`` (V.250 §6.2.10)."""
    rates = _rates(ctx.module)
    auto = [r for r in rates if r == 0]
    fixed = [r for r in rates if r != 0]
    return [
        "+IPR: (" + ",".join(str(r) for r in auto) + "),(" + ",".join(str(r) for r in fixed) + ")"
    ]


AMP_V_DEFAULT = [
    "&C: {amp_c}",
    "&D: {amp_d}",
    "&F: 0",
    "&W: 0",
    "E: {echo}",
    "Q: {quiet}",
    "V: {verbose}",
    "X: 4",
    "Z: 0",
    "S0: 0",
    "S3: 13",
    "S4: 10",
    "S5: 8",
    "S6: 2",
    "S7: 0",
    "S8: 2",
    "S10: 15",
    "S12: 50",
]


def amp_v(ctx: CommandContext, args: Args) -> list[str]:
    """AT&V: the current configuration, one ``<name>: <value>`` line each, in the order of
    Quectel's LTE Standard AT manual (table "AT&V response"); the profile's ``serial.amp_v``
    holds the lines, with ``{setting}`` replaced by the current value."""
    if args.values and args.values[0] != 0:
        raise IncorrectParameters("AT&V takes only 0")
    module = ctx.module
    values = {**DEFAULTS, **module.engine.settings.as_dict()}
    try:
        return [line.format(**values) for line in str_list(module, FAMILY, "amp_v", AMP_V_DEFAULT)]
    except KeyError as exc:
        raise ProfileError(f"profile {module.profile.name}: serial.amp_v names {exc}") from exc


def register(registry: CommandRegistry) -> None:
    registry.add("&C", Form.EXEC, amp_c)
    registry.add("&D", Form.EXEC, amp_d)
    registry.add("&V", Form.EXEC, amp_v)
    registry.add("+IFC", Form.READ, ifc_read)
    registry.add("+IFC", Form.WRITE, ifc_write)
    registry.add("+IFC", Form.TEST, ifc_test)
    registry.add("+IPR", Form.READ, ipr_read)
    registry.add("+IPR", Form.WRITE, ipr_write)
    registry.add("+IPR", Form.TEST, ipr_test)
