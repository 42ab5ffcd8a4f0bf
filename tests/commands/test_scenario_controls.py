"""The scenario runner drives the common-set controls (network time, SIM holder, power key)
on the in-process module: the shipped example passes, a refused control fails its step."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from scenario_tool.cli import EXIT_FAILED, EXIT_OK, run_files
from tests.commands.conftest import COMMON_FAMILIES
from tests.support import BASELINE_FAMILIES

ROOT = Path(__file__).resolve().parents[2]


def _profile(tmp_path: Path) -> str:
    """EC200U without the LwM2M family: these scenarios need no server."""
    path = tmp_path / "common.json"
    families = [*BASELINE_FAMILIES, *COMMON_FAMILIES]
    path.write_text(json.dumps({"extends": "EC200U", "command_families": families}))
    return str(path)


def _run(files: list[Path], tmp_path: Path, lines: list[str]) -> int:
    return run_files(
        files,
        progress=lines.append,
        summary=lines.append,
        err=lines.append,
        profile=_profile(tmp_path),
        transcript=tmp_path / "t.log",
    )


def test_the_common_at_example_passes(tmp_path: Path) -> None:
    lines: list[str] = []
    status = _run([ROOT / "scenarios" / "examples" / "common-at.yaml"], tmp_path, lines)
    assert status == EXIT_OK, "\n".join(lines)
    transcript = (tmp_path / "t.log").read_text()
    assert "POWERED DOWN" in transcript and "RDY" in transcript


def test_a_refused_control_fails_its_step_with_the_reason(tmp_path: Path) -> None:
    scenario = tmp_path / "refused.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            name: refused
            steps:
              - fault: power_on
            """
        )
    )
    lines: list[str] = []
    assert _run([scenario], tmp_path, lines) == EXIT_FAILED
    text = "\n".join(lines)
    assert "expected: the module to accept power_on" in text
    assert "already on" in text
