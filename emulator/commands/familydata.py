"""What the common-set families (serial, device, netinfo, nitz, simdet, call) share.

* Profile data: each family owns the profile section named after it. Values are checked
  when read; a wrong type is a :class:`ProfileError` naming the section and the field.
* Settings the module keeps in non-volatile memory (Quectel's "saved automatically"):
  :class:`NvSettings`, one namespace per family, read through on every access so that a
  reboot, a factory reset or another port never sees stale copies.
* Settings a reboot forgets: :func:`volatile`, kept per boot generation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from emulator.module.profile import ProfileError
from emulator.module.virtual import VirtualModule

T = TypeVar("T")


def section(module: VirtualModule, family: str) -> dict[str, Any]:
    data = module.profile.sections.get(family, {})
    if not isinstance(data, dict):
        raise ProfileError(f"profile {module.profile.name}: section {family!r} is an object")
    return data


def setting(module: VirtualModule, family: str, key: str, kind: type[T], default: T) -> T:
    """A field of the family's profile section, or ``default`` when the profile has none."""
    value = section(module, family).get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(
            f"profile {module.profile.name}: {family}.{key} must be {kind.__name__}, got {value!r}"
        )
    return value


def int_list(module: VirtualModule, family: str, key: str, default: list[int]) -> list[int]:
    values = setting(module, family, key, list, default)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ProfileError(f"profile {module.profile.name}: {family}.{key} is a list of numbers")
    return [int(v) for v in values]


def str_list(module: VirtualModule, family: str, key: str, default: list[str]) -> list[str]:
    values = setting(module, family, key, list, default)
    if not all(isinstance(v, str) for v in values):
        raise ProfileError(f"profile {module.profile.name}: {family}.{key} is a list of strings")
    return [str(v) for v in values]


class NvSettings:
    """A family's auto-saved settings: profile defaults overlaid with what NV holds."""

    def __init__(self, module: VirtualModule, family: str, defaults: dict[str, Any]) -> None:
        self.module = module
        self.namespace = f"commands.{family}"
        self.defaults = defaults

    def get(self, key: str) -> Any:
        stored = self.module.nv.load(self.namespace)
        return stored.get(key, self.defaults[key])

    def set(self, key: str, value: Any) -> None:
        stored = self.module.nv.load(self.namespace)
        stored[key] = value
        self.module.nv.save(self.namespace, stored)

    def reset(self, key: str) -> None:
        stored = self.module.nv.load(self.namespace)
        if stored.pop(key, None) is not None:
            self.module.nv.save(self.namespace, stored)


def volatile(module: VirtualModule, key: str, factory: Callable[[], T]) -> T:
    """Per-module state that a reboot or power cycle resets to ``factory()``."""
    holder: list[Any] = module.component(f"volatile:{key}", lambda: [-1, None])
    if holder[0] != module.boot_generation:
        holder[0] = module.boot_generation
        holder[1] = factory()
    value: T = holder[1]
    return value


def range_text(values: list[int]) -> str:
    """``(0-2)`` for consecutive numbers, ``(0,1,3)`` otherwise (27.007 §1.4 test forms)."""
    ordered = sorted(values)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"({ordered[0]}-{ordered[-1]})"
    return "(" + ",".join(str(v) for v in ordered) + ")"
