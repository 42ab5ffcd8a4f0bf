"""``wait: notification`` with ``apart``: pmin checked between two notifications as the server
saw them, so the time the steps in between took (a busy loop hosting many modules) does not
count, as it did with ``after`` measured from the step's start."""

from __future__ import annotations

import pytest

from scenario_tool.driver import EventBox, Notified, Registered, Registration
from scenario_tool.errors import ScenarioFormatError
from scenario_tool.format import WaitStep, parse_scenario
from scenario_tool.runner import StepFailed, _Session

EP = "urn:imei:869339060001965"
OTHER = "urn:imei:869339060001973"


def wait_step(extra: str) -> WaitStep:
    scenario = parse_scenario(f"name: x\nsteps:\n  - wait: notification\n    path: /4/0/2\n{extra}")
    step = scenario.steps[0]
    assert isinstance(step, WaitStep)
    return step


def notified(at: float, path: str = "/4/0/2", endpoint: str = EP) -> Notified:
    return Notified(endpoint=endpoint, at=at, path=path, value=-65)


def test_the_previous_notification_is_of_the_same_endpoint_and_path() -> None:
    box = EventBox()
    first = notified(10.0)
    for event in (
        first,
        notified(10.5, path="/3/0/9"),
        notified(10.6, endpoint=OTHER),
        Registered(endpoint=EP, at=10.7, registration=Registration(endpoint=EP)),
    ):
        box.post(event)
    second = notified(11.0)
    box.post(second)
    assert box.previous(second) is first
    assert box.previous(first) is None


def test_apart_holds_whatever_the_steps_in_between_took() -> None:
    step = wait_step("    apart: 0.9\n")
    box = EventBox()
    first, second = notified(10.0), notified(11.0)
    box.post(first)
    box.post(second)
    _Session._check_apart(step, second, box.previous(second))  # 1.0 s apart: pmin kept


def test_a_notification_sooner_than_apart_fails_with_the_gap() -> None:
    step = wait_step("    apart: 0.9\n")
    box = EventBox()
    box.post(notified(10.0))
    early = notified(10.4)
    box.post(early)
    with pytest.raises(StepFailed) as failed:
        _Session._check_apart(step, early, box.previous(early))
    assert failed.value.expected == "the notification at least 0.9 s after the previous one"
    assert failed.value.got == "it came 0.400 s after it"


def test_apart_on_the_first_notification_fails_saying_so() -> None:
    step = wait_step("    apart: 0.9\n")
    box = EventBox()
    only = notified(10.0)
    box.post(only)
    with pytest.raises(StepFailed, match="it is the first notification of /4/0/2"):
        _Session._check_apart(step, only, box.previous(only))


def test_apart_is_a_notification_field_only() -> None:
    with pytest.raises(ScenarioFormatError):
        parse_scenario("name: x\nsteps:\n  - wait: registration\n    apart: 1\n")
    with pytest.raises(ScenarioFormatError):
        wait_step("    apart: -1\n")
