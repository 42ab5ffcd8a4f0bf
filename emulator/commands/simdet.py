"""SIM card detection: AT+CCID (the ICCID), AT+QSIMDET (hot-plug detection) and
AT+QSIMSTAT (insertion status and its URC), as Quectel's LTE Standard AT manuals describe.

A removal or insertion comes from the world (``VirtualModule.set_sim``, the scenario faults
``sim_remove``/``sim_insert``). With AT+QSIMSTAT=1 the module reports
``+QSIMSTAT: 1,<inserted>`` before the ``+CPIN:`` URC. The emulated card holder always
detects the change; AT+QSIMDET's values are kept (saved) and read back.
"""

from __future__ import annotations

from emulator.at.errors import SimNotInserted
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry
from emulator.commands.context import CommandContext
from emulator.commands.familydata import NvSettings, int_list
from emulator.module.events import ModuleEvent, SimStateChanged
from emulator.module.routing import EventTypes
from emulator.module.state import SimState
from emulator.module.virtual import VirtualModule

FAMILY = "simdet"


def _settings(module: VirtualModule) -> NvSettings:
    qsimdet = int_list(module, FAMILY, "qsimdet_default", [1, 0])
    return NvSettings(
        module,
        FAMILY,
        {"qsimdet": qsimdet, "qsimstat": int_list(module, FAMILY, "qsimstat_default", [0])[0]},
    )


def ccid(ctx: CommandContext, args: Args) -> list[str]:
    if ctx.module.radio.sim is SimState.NOT_INSERTED:
        raise SimNotInserted()
    return [f"+CCID: {ctx.module.identity.iccid}"]


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of an action command without parameters: OK."""


def qsimdet_read(ctx: CommandContext, args: Args) -> list[str]:
    enable, level = _settings(ctx.module).get("qsimdet")
    return [f"+QSIMDET: {enable},{level}"]


def qsimdet_write(ctx: CommandContext, args: Args) -> None:
    """``AT+QSIMDET=<enable>,<insert_level>``: takes effect after a restart; saved."""
    args.count(2)
    _settings(ctx.module).set("qsimdet", [args.int(0, 0, 1), args.int(1, 0, 1)])


def qsimdet_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QSIMDET: (0,1),(0,1)"]


def _inserted(module: VirtualModule) -> int:
    return 0 if module.radio.sim is SimState.NOT_INSERTED else 1


def qsimstat_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QSIMSTAT: {_settings(ctx.module).get('qsimstat')},{_inserted(ctx.module)}"]


def qsimstat_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _settings(ctx.module).set("qsimstat", args.int(0, 0, 1))


def qsimstat_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+QSIMSTAT: (0,1)"]


#: Every event class ``_on_event`` looks at: the module hands it only these.
OBSERVED_EVENTS: EventTypes = (SimStateChanged,)


def _on_event(module: VirtualModule, event: ModuleEvent, now: float) -> None:
    if not isinstance(event, SimStateChanged):
        return
    moved = event.state is SimState.NOT_INSERTED or _was_removed(module)
    if moved and _settings(module).get("qsimstat") == 1:
        module.raise_urc(f"+QSIMSTAT: 1,{_inserted(module)}", now)
    _removed(module)[0] = module.radio.sim is SimState.NOT_INSERTED


def _removed(module: VirtualModule) -> list[bool]:
    return module.component("simdet.removed", lambda: [False])


def _was_removed(module: VirtualModule) -> bool:
    """A SIM state change is an insertion only when the card was out before (PIN changes
    are not card movements)."""
    return _removed(module)[0]


def attach(module: VirtualModule) -> None:
    _removed(module)[0] = module.radio.sim is SimState.NOT_INSERTED
    module.observe(lambda event, now: _on_event(module, event, now), OBSERVED_EVENTS)


def register(registry: CommandRegistry) -> None:
    registry.add("+CCID", Form.EXEC, ccid)
    registry.add("+CCID", Form.TEST, empty)
    registry.add("+QSIMDET", Form.READ, qsimdet_read)
    registry.add("+QSIMDET", Form.WRITE, qsimdet_write)
    registry.add("+QSIMDET", Form.TEST, qsimdet_test)
    registry.add("+QSIMSTAT", Form.READ, qsimstat_read)
    registry.add("+QSIMSTAT", Form.WRITE, qsimstat_write)
    registry.add("+QSIMSTAT", Form.TEST, qsimstat_test)
