"""How the module's events read in a scenario transcript."""

from __future__ import annotations

from emulator.module.events import RegistrationChanged
from emulator.module.state import RegStat
from scenario_tool.runner import describe_event


def test_an_enum_field_reads_as_its_name_and_value() -> None:
    assert describe_event(RegistrationChanged(stat=RegStat.HOME)) == (
        "RegistrationChanged(stat=HOME(1))"
    )


def test_what_is_not_a_dataclass_is_shown_as_python_shows_it() -> None:
    assert describe_event("boot") == "'boot'"
