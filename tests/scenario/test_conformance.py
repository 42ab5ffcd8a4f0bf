"""The conformance set (scenarios/conformance) passes against the embedded server, with the
real virtual module and its LwM2M client in this process, over real UDP (and DTLS) through
the fault relay. Each scenario is one test; a failure shows the step and the transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_tool.format import Scenario, WriteAttributesStep, load_scenario
from scenario_tool.runner import Runner, RunOptions
from scenario_tool.transcript import Transcript

CONFORMANCE = Path(__file__).resolve().parents[2] / "scenarios" / "conformance"
FILES = sorted(CONFORMANCE.glob("*.yaml"))


def test_the_set_covers_what_the_product_promises() -> None:
    scenarios = [load_scenario(path) for path in FILES]
    names = {s.name for s in scenarios}
    for case in (
        "int-0",
        "int-101",
        "int-102",
        "int-103",
        "int-201",
        "int-203",
        "int-301",
        "int-401",
        "int-756",
    ):
        assert f"LightweightM2M-1.0-{case}" in names
    text = "\n".join(path.read_text() for path in FILES)
    for urc in (
        '"lifetime_changed"',
        '"fota/pkgurl"',
        '"current_time_changed"',
        '"dtls"',
        '"bootstrap"',
        '"deregister"',
        '"update"',
    ):
        assert urc in text, urc

    def uses(action: str, subject: str | None = None) -> bool:
        return any(
            step.action == action and (subject is None or step.subject == subject)
            for scenario in scenarios
            for step in scenario.steps
        )

    for action, subject in [
        ("read", None),
        ("write", None),
        ("execute", None),
        ("observe", None),
        ("cancel_observe", None),
        ("write_attributes", None),
        ("discover", None),
        ("set_psk", None),
        ("configure_bootstrap", None),
        ("fault", "server_restart"),
        ("fault", "network_cut"),
        ("fault", "drop"),
        ("fault", "delay"),
        ("fault", "pdp_reject"),
        ("fault", "signal"),
        ("quiet", "notification"),
    ]:
        assert uses(action, subject), (action, subject)
    assert any(
        isinstance(step, WriteAttributesStep) and step.pmin and step.pmax
        for scenario in scenarios
        for step in scenario.steps
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_scenario_passes_against_the_embedded_server(path: Path, tmp_path: Path) -> None:
    scenario: Scenario = load_scenario(path)
    transcript = Transcript(tmp_path / "transcript.txt")
    try:
        result = await Runner(RunOptions(), transcript).run(scenario)
    finally:
        transcript.close()
    if not result.passed:
        line = result.steps[-1].transcript_line if result.steps else result.last_line
        excerpt = transcript.excerpt(max(result.first_line, line - 40), line + 5)
        pytest.fail(f"{result.outcome}: {result.message}\n{excerpt}", pytrace=False)
    assert len(result.steps) == len(scenario.steps)
