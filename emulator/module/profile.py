"""Module profiles: what a firmware build looks like, kept as data (JSON files).

The built-in profiles live in ``emulator/profiles/<MODEL>.json``. A user matches their own
firmware build by writing a profile file that ``"extends"`` a built-in one and overrides
only what differs; nothing in code changes. Sections a command family owns (e.g.
``"lwm2m"``) are passed through untouched as ``ModuleProfile.sections``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

BUILTIN_PACKAGE = "emulator.profiles"


class ProfileError(ValueError):
    """A profile file is missing, not JSON, or has a field of the wrong type."""


@dataclass(frozen=True, kw_only=True)
class Identity:
    manufacturer: str
    model: str
    revision: str
    imei: str
    serial_number: str
    imsi: str
    iccid: str
    msisdn: str


@dataclass(frozen=True, kw_only=True)
class NetworkDefaults:
    operator_long: str
    operator_short: str
    operator_numeric: str
    act: int  # 27.007 <AcT>: 7 E-UTRAN
    rssi: int
    ber: int
    tac: str  # hex, as +CEREG prints it
    cell_id: str  # hex, 28-bit E-UTRAN cell identity
    apn: str
    pdp_type: str
    ip_address: str
    attach_delay: float  # seconds from CFUN=1 / boot to registered


@dataclass(frozen=True, kw_only=True)
class BootSequence:
    duration: float  # seconds the port is quiet during a reboot
    urcs: tuple[str, ...]  # in order, right after the quiet period
    urc_gap: float  # seconds between two boot URCs


@dataclass(frozen=True, kw_only=True)
class ModuleProfile:
    name: str
    identity: Identity
    network: NetworkDefaults
    boot: BootSequence
    settings: dict[str, int]  # factory values of ATE/ATV/ATQ/CMEE
    max_line_length: int
    command_families: tuple[str, ...]
    commands: tuple[str, ...] | None  # None: every command of the families
    latency: dict[str, float]  # per-command extra latency in seconds
    sections: dict[str, Any] = field(default_factory=dict)  # family-owned sections


def builtin_names() -> list[str]:
    files = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".json"))


def _load_raw(name_or_path: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name_or_path in seen:
        raise ProfileError(f"profile {name_or_path!r} extends itself ({' -> '.join(seen)})")
    path = Path(name_or_path)
    try:
        if path.suffix == ".json" or path.exists():
            text = path.read_text(encoding="utf-8")
            where = str(path)
        else:
            key = name_or_path.upper()
            candidates = {n.upper(): n for n in builtin_names()}
            if key not in candidates:
                raise ProfileError(
                    f"unknown profile {name_or_path!r}; built-in profiles: "
                    f"{', '.join(builtin_names())} (or give a path to a .json file)"
                )
            text = (resources.files(BUILTIN_PACKAGE) / f"{candidates[key]}.json").read_text(
                encoding="utf-8"
            )
            where = f"built-in profile {candidates[key]}"
    except OSError as exc:
        raise ProfileError(f"cannot read profile {name_or_path!r}: {exc.strerror}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: a profile is a JSON object")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ProfileError(f'{where}: "extends" names a profile')
    return _merge(_load_raw(parent, (*seen, name_or_path)), raw)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _take(section: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in section:
        raise ProfileError(f"{where}: missing field {key!r}")
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def load_profile(name_or_path: str) -> ModuleProfile:
    """Load a built-in profile by model name (case-insensitive) or a profile file."""
    raw = _load_raw(name_or_path)
    where = f"profile {name_or_path}"
    try:
        ident = raw["identity"]
        net = raw["network"]
        boot = raw["boot"]
    except KeyError as exc:
        raise ProfileError(f"{where}: missing section {exc.args[0]!r}") from exc
    identity = Identity(
        **{k: _take(ident, k, str, f"{where} identity") for k in Identity.__dataclass_fields__}
    )
    network = NetworkDefaults(
        operator_long=_take(net, "operator_long", str, where),
        operator_short=_take(net, "operator_short", str, where),
        operator_numeric=_take(net, "operator_numeric", str, where),
        act=_take(net, "act", int, where),
        rssi=_take(net, "rssi", int, where),
        ber=_take(net, "ber", int, where),
        tac=_take(net, "tac", str, where),
        cell_id=_take(net, "cell_id", str, where),
        apn=_take(net, "apn", str, where),
        pdp_type=_take(net, "pdp_type", str, where),
        ip_address=_take(net, "ip_address", str, where),
        attach_delay=_take(net, "attach_delay_ms", float, where) / 1000.0,
    )
    urcs = _take(boot, "urcs", list, where)
    if not all(isinstance(u, str) for u in urcs):
        raise ProfileError(f"{where}: boot.urcs is a list of strings")
    boot_seq = BootSequence(
        duration=_take(boot, "duration_ms", float, where) / 1000.0,
        urcs=tuple(urcs),
        urc_gap=_take(boot, "urc_gap_ms", float, where) / 1000.0,
    )
    settings = _take(raw, "settings", dict, where)
    commands = raw.get("commands")
    if commands is not None and not (
        isinstance(commands, list) and all(isinstance(c, str) for c in commands)
    ):
        raise ProfileError(f"{where}: commands is a list of command names or null")
    latency_ms = raw.get("latency_ms", {})
    if not isinstance(latency_ms, dict) or not all(
        isinstance(v, int | float) for v in latency_ms.values()
    ):
        raise ProfileError(f"{where}: latency_ms maps command names to milliseconds")
    known = {
        "name",
        "identity",
        "network",
        "boot",
        "settings",
        "max_line_length",
        "command_families",
        "commands",
        "latency_ms",
    }
    return ModuleProfile(
        name=_take(raw, "name", str, where),
        identity=identity,
        network=network,
        boot=boot_seq,
        settings={k: int(v) for k, v in settings.items()},
        max_line_length=_take(raw, "max_line_length", int, where),
        command_families=tuple(_take(raw, "command_families", list, where)),
        commands=tuple(commands) if commands is not None else None,
        latency={k.upper(): float(v) / 1000.0 for k, v in latency_ms.items()},
        sections={k: v for k, v in raw.items() if k not in known},
    )
