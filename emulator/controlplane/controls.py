"""World controls: what the network and the bench do to a module from outside (sans-I/O).

One typed control per thing a test bench or the network can do to a real module: change
the signal, take coverage away, pull the SIM, make the network refuse PDP activations,
tear a PDP context down from the network side, press the reset or power key, deliver an
SMS, refuse the module's SMS. The MQTT control
plane and ``serve --control`` parse their input into these and carry them out with
:func:`apply_control`; nothing here knows where a control came from.

``parse_control(name, fields)`` checks a JSON-like mapping and raises :class:`ControlError`
saying what is wrong; ``apply_control(module, control, now)`` changes the module and returns
what happened as JSON-ready data, or raises :class:`ControlError` with the module's reason
(``the module is already on``, ``no SIM`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from emulator.at.errors import AtError
from emulator.module.events import PowerDownCause, RebootCause
from emulator.module.state import SimState
from emulator.module.virtual import VirtualModule


class ControlError(ValueError):
    """A control that is malformed or that the module refuses (the message says why)."""


@dataclass(frozen=True, kw_only=True)
class SetSignal:
    rssi: int  # 27.007 §8.5 <rssi> 0-31, 99: no signal (coverage lost)
    ber: int = 99


@dataclass(frozen=True, kw_only=True)
class SetCoverage:
    present: bool


@dataclass(frozen=True, kw_only=True)
class SetSim:
    inserted: bool


@dataclass(frozen=True, kw_only=True)
class SetPdpReject:
    reject: bool


@dataclass(frozen=True, kw_only=True)
class DeactivatePdp:
    cid: int | None = None  # None: every active context


@dataclass(frozen=True, kw_only=True)
class Reboot:
    factory_reset: bool = False


@dataclass(frozen=True, kw_only=True)
class SetPower:
    on: bool


@dataclass(frozen=True, kw_only=True)
class DeliverSms:
    sender: str
    text: str


@dataclass(frozen=True, kw_only=True)
class RefuseSms:
    code: int | None  # +CMS ERROR <err> (27.005 §3.2.5) for every send; None: accept again


Control = (
    SetSignal
    | SetCoverage
    | SetSim
    | SetPdpReject
    | DeactivatePdp
    | Reboot
    | SetPower
    | DeliverSms
    | RefuseSms
)


# ------------------------------------------------------------------------ parsing
def _bool(fields: Mapping[str, Any], name: str, default: bool | None = None) -> bool:
    value = fields.get(name, default)
    if not isinstance(value, bool):
        raise ControlError(f"{name!r} must be true or false, not {value!r}")
    return value


def _int(fields: Mapping[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ControlError(f"{name!r} must be a whole number {lo}-{hi}, not {value!r}")
    return value


def _text(fields: Mapping[str, Any], name: str, limit: int) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name!r} must be a non-empty string, not {value!r}")
    if len(value) > limit:
        raise ControlError(f"{name!r} is longer than {limit} characters")
    return value


def _signal(fields: Mapping[str, Any]) -> Control:
    rssi = _int(fields, "rssi", 0, 99)
    if 31 < rssi < 99:
        raise ControlError(f"'rssi' must be 0-31 or 99 (27.007 <rssi>), not {rssi}")
    ber = _int(fields, "ber", 0, 99, default=99)
    if 7 < ber < 99:
        raise ControlError(f"'ber' must be 0-7 or 99 (27.007 <ber>), not {ber}")
    return SetSignal(rssi=rssi, ber=ber)


def _sms_reject(fields: Mapping[str, Any]) -> Control:
    code = fields.get("code")
    if code is None:
        return RefuseSms(code=None)
    return RefuseSms(code=_int(fields, "code", 0, 511))


def _pdp_deactivate(fields: Mapping[str, Any]) -> Control:
    if fields.get("cid") is None:
        return DeactivatePdp()
    return DeactivatePdp(cid=_int(fields, "cid", 1, 15))


MAX_SMS_TEXT: Final = 10_000  # characters: about 65 concatenated parts
PARSERS: Final[dict[str, tuple[Callable[[Mapping[str, Any]], Control], tuple[str, ...]]]] = {
    "signal": (_signal, ("rssi", "ber")),
    "coverage": (lambda f: SetCoverage(present=_bool(f, "present")), ("present",)),
    "sim": (lambda f: SetSim(inserted=_bool(f, "inserted")), ("inserted",)),
    "pdp_reject": (lambda f: SetPdpReject(reject=_bool(f, "reject", True)), ("reject",)),
    "pdp_deactivate": (_pdp_deactivate, ("cid",)),
    "reboot": (
        lambda f: Reboot(factory_reset=_bool(f, "factory_reset", False)),
        ("factory_reset",),
    ),
    "power": (lambda f: SetPower(on=_bool(f, "on")), ("on",)),
    "sms": (
        lambda f: DeliverSms(sender=_text(f, "sender", 20), text=_text(f, "text", MAX_SMS_TEXT)),
        ("sender", "text"),
    ),
    "sms_reject": (_sms_reject, ("code",)),
}
CONTROL_NAMES: Final = tuple(PARSERS)


def parse_control(name: str, fields: Mapping[str, Any]) -> Control:
    """The typed control ``name`` from its fields; raises ControlError saying what is wrong."""
    entry = PARSERS.get(name)
    if entry is None:
        raise ControlError(f"unknown control {name!r}; known: {', '.join(CONTROL_NAMES)}")
    parse, allowed = entry
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ControlError(
            f"control {name!r} takes {', '.join(allowed) or 'no fields'}, not {', '.join(unknown)}"
        )
    return parse(fields)


# ------------------------------------------------------------------------ applying
def apply_control(module: VirtualModule, control: Control, now: float) -> dict[str, Any]:
    """Carry ``control`` out on ``module``; what happened, or ControlError with the reason."""
    try:
        return _apply(module, control, now)
    except (AtError, ValueError) as exc:  # NotDeliverable is a ValueError
        if isinstance(exc, ControlError):
            raise
        raise ControlError(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _apply(module: VirtualModule, control: Control, now: float) -> dict[str, Any]:
    if isinstance(control, SetSignal):
        module.set_signal(control.rssi, now, ber=control.ber)
        return {"rssi": control.rssi, "ber": control.ber}
    if isinstance(control, SetCoverage):
        module.set_coverage(control.present, now)
        return {"present": control.present}
    if isinstance(control, SetSim):
        module.set_sim(SimState.READY if control.inserted else SimState.NOT_INSERTED, now)
        return {"inserted": control.inserted}
    if isinstance(control, SetPdpReject):
        module.set_pdp_reject(control.reject)
        return {"reject": control.reject}
    if isinstance(control, DeactivatePdp):
        module.network_deactivate_pdp(now, control.cid)
        return {"cid": control.cid}
    if isinstance(control, Reboot):
        if module.powered_off:
            raise ControlError("the module is powered down: power it on first")
        module.reboot(now, RebootCause.CONTROL, factory_reset=control.factory_reset)
        return {"factory_reset": control.factory_reset}
    if isinstance(control, SetPower):
        if control.on:
            module.power_on(now)
        elif module.powered_off:
            raise ControlError("the module is already off")
        else:
            module.power_down(now, PowerDownCause.CONTROL)
        return {"on": control.on}
    if isinstance(control, DeliverSms):
        from emulator.sms.model import sms_state  # the sms family's state, made on first use

        results = sms_state(module).deliver_text(control.sender, control.text, now)
        return {
            "parts": [
                {
                    "stored": r.stored,
                    "index": r.index,
                    "direct": r.direct,
                    "rejected": r.rejected,
                }
                for r in results
            ]
        }
    from emulator.sms.model import sms_state

    sms_state(module).refuse_sends = control.code
    return {"code": control.code}
