"""The scenario format: valid files load; bad ones are refused with file, line and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenario_tool.errors import ScenarioFormatError
from scenario_tool.format import (
    FIELD_NAMES,
    STEP_SPECS,
    STEP_TYPES,
    Fault,
    FaultStep,
    ReadStep,
    SendStep,
    WriteStep,
    load_scenario,
    parse_scenario,
    substitute,
)

ROOT = Path(__file__).resolve().parents[2]


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_scenario(textwrap.dedent(text), "t.yaml")


def refused(text: str) -> ScenarioFormatError:
    with pytest.raises(ScenarioFormatError) as info:
        parse(text)
    return info.value


def test_a_scenario_with_every_kind_of_step_loads() -> None:
    scenario = parse(
        """\
        name: all-steps
        title: every step
        module: {profile: EC200U}
        vars: {ssid: 1000}
        timeout: 30
        steps:
          - send: AT+QLWREG
          - send: AT+CSQ
            match: '\\+CSQ: \\d+'
          - send: ATI
            expect: [Quectel, OK]
          - urc: '+QLWURC: "ready","successfully",${ssid}'
            within: 3
          - urc_match: '\\+QLWURC: "update",.*'
          - wait: registration
            lifetime: 60
            objects: ['</3/0>']
          - wait: notification
            path: /3/0/13
            after: 1
            within: 4
          - read: /3/0/0
            expect: Quectel
          - write: /1/0/1
            value: 120
          - execute: /3/0/4
          - observe: /3/0/9
          - cancel_observe: /3/0/9
          - write_attributes: /3/0/9
            pmin: 1
            pmax: 2
          - discover: /3/0
            contains: ['</3/0/0>']
          - set_psk: ${endpoint}
            identity: id
            key: 0a0b
          - configure_bootstrap: ${endpoint}
            server_uri: ${server_uri}
          - fault: drop
            share: 0.5
            seed: 7
          - fault: server_restart
          - fault: sms_reject
            code: 38
          - quiet: notification
            path: /3/0/9
            for: 1
          - deliver_sms: hello
            from: "+8613912345678"
          - sms_sent: hello back
            to: "10086"
          - mqtt_publish: cmd/led
            broker: 127.0.0.1:1883
            payload: "on"
          - mqtt_takeover: dev-1
            broker: 127.0.0.1:1883
          - tcp_peer: listen
            destination: telemetry.example.com:9000
          - tcp_peer: expect
            hex: "0d0a"
          - fault: pdp_deactivate
          - pause: 0.5
            name: let time pass
        """
    )
    assert scenario.name == "all-steps"
    assert scenario.profile == "EC200U"
    assert scenario.timeout == 30.0
    actions = [step.action for step in scenario.steps]
    assert set(actions) == set(STEP_SPECS)
    assert set(type(step) for step in scenario.steps) == set(STEP_TYPES.values())
    send = scenario.steps[0]
    assert isinstance(send, SendStep)
    assert send.fields() == {"expect": None, "match": None, "within": 5.0, "payload": None}
    assert send.where.line == 7
    read = scenario.steps[7]
    assert isinstance(read, ReadStep)
    assert read.code == "2.05" and read.endpoint == "${endpoint}"
    assert isinstance(scenario.steps[8], WriteStep) and scenario.steps[8].code == "2.04"
    drop = scenario.steps[16]
    assert isinstance(drop, FaultStep) and drop.fault is Fault.DROP
    assert drop.fields() == {"share": 0.5, "direction": "both", "seed": 7}
    assert drop.describe() == "fault drop share=0.5 direction=both"
    assert scenario.steps[-1].describe() == "let time pass"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("name: x\nsteps:\n  - sned: AT\n", 3, "unknown step 'sned'"),
        ("name: x\nsteps:\n  - send: AT\n    expekt: OK\n", 4, "unknown field 'expekt'"),
        ("name: x\nsteps:\n  - write: /1/0/1\n", 3, "missing field 'value'"),
        ("name: x\nsteps:\n  - send: AT\n    within: soon\n", 4, "'within' must be a number"),
        ("name: x\nsteps:\n  - send: [AT]\n", 3, "must be a string"),
        ("name: x\nsteps:\n  - read: 3/0/0\n", 3, "does not start with '/'"),
        ("name: x\nsteps:\n  - execute: /3/0\n", 3, "must name a resource"),
        ("name: x\nsteps:\n  - fault: earthquake\n", 3, "must be one of drop"),
        ("name: x\nsteps:\n  - fault: drop\n", 3, "missing field 'share'"),
        ("name: x\nsteps:\n  - fault: drop\n    share: 2\n", 4, "must be at most 1"),
        ("name: x\nsteps:\n  - fault: signal\n    share: 0.1\n", 4, "unknown field 'share'"),
        ("name: x\nsteps:\n  - send: AT\n    urc: x\n", 4, "one action per step"),
        ("name: x\nsteps:\n  - urc: '${nope}'\n", 3, "unknown variable ${nope}"),
        ("name: x\nsteps:\n  - urc_match: '(unclosed'\n", 3, "not a valid regular expression"),
        ("name: x\nsteps:\n  - read: /3/0/0\n    code: 7.77\n", 4, "not a CoAP response code"),
        ("name: x\nsteps:\n  - set_psk: ep\n    identity: i\n    key: xyz\n", 5, "hex digits"),
        ("name: x\nsteps:\n  - urc: x\n    after: 5\n    within: 2\n", 3, "'after' must be less"),
        ("name: x\nsteps:\n  - write_attributes: /3/0/9\n", 3, "at least one attribute"),
        ("name: x\nsteps:\n  - quiet: urc\n", 3, "missing field 'for'"),
        (
            "name: x\nsteps:\n  - quiet: urc\n    path: /3/0\n    for: 1\n",
            4,
            "unknown field 'path'",
        ),
        ("name: x\nsteps:\n  - read: /3/0/0\n    expect: 1\n    match: x\n", 3, "not both"),
        ("name: x\nsteps: []\n", 2, "non-empty list"),
        ("steps:\n  - send: AT\n", 1, "missing 'name'"),
        ("name: x\n", 1, "missing 'steps'"),
        ("name: x\nstep:\n  - send: AT\n", 2, "unknown top-level key 'step'"),
        ("name: x\nname: y\nsteps:\n  - send: AT\n", 2, "'name' is given twice"),
        ("name: x\nsteps:\n  - send: AT\n   within: 1\n", 4, "not valid YAML"),
        ("name: x\nvars: {endpoint: e}\nsteps:\n  - send: AT\n", 2, "set by the runner"),
        (
            "name: x\nsteps:\n  - configure_bootstrap: ep\n    server_uri: u\n    security: psk\n",
            3,
            "psk needs 'identity'",
        ),
        ("- just\n- a list\n", 1, "must be a mapping"),
        ("name: x\nmodule: {profile: EC999}\nsteps:\n  - send: AT\n", 2, "unknown profile 'EC999'"),
        ("", 1, "the file is empty"),
    ],
)
def test_bad_input_is_refused_with_line_and_reason(text: str, line: int, reason: str) -> None:
    error = refused(text)
    assert error.where.file == "t.yaml"
    assert error.where.line == line, str(error)
    assert reason in error.reason, str(error)
    assert str(error).startswith(f"t.yaml:{line}: ")


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFormatError) as info:
        load_scenario(tmp_path / "absent.yaml")
    assert "absent.yaml:1" in str(info.value) and "cannot read" in str(info.value)


def test_variables_are_substituted_keeping_whole_values_typed() -> None:
    variables = {"ssid": 1000, "host": "127.0.0.1"}
    assert substitute("${ssid}", variables) == 1000
    assert substitute("coap://${host}:5683", variables) == "coap://127.0.0.1:5683"
    assert substitute({"a": ["${ssid}", "x${ssid}"]}, variables) == {"a": [1000, "x1000"]}


def test_every_shipped_scenario_file_is_valid() -> None:
    files = sorted((ROOT / "scenarios").rglob("*.yaml"))
    files = [f for f in files if "fragments" not in f.parts]
    assert files, "no scenario files shipped"
    for path in files:
        scenario = load_scenario(path)
        assert scenario.steps, path


def test_the_documentation_names_every_step_and_field() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text()
    for action, spec in STEP_SPECS.items():
        variants = spec.variants or {"": spec.fields}
        for subject, fields in variants.items():
            heading = f"`{action}: {subject}`" if subject else f"`{action}: "
            assert heading in text, heading
            for name in fields:
                assert f"`{name}`" in text, (action, subject, name)


def test_every_field_of_the_grammar_is_an_attribute_of_its_step_type() -> None:
    import dataclasses

    assert set(STEP_TYPES) == set(STEP_SPECS)
    for action, spec in STEP_SPECS.items():
        attributes = {f.name for f in dataclasses.fields(STEP_TYPES[action])}
        assert STEP_TYPES[action].subject_field in attributes, action
        for fields in (spec.variants or {"": spec.fields}).values():
            for name in fields:
                assert FIELD_NAMES.get(name, name) in attributes, (action, name)
