"""Scenario steps for the SMS network side: ``deliver_sms``, ``sms_sent`` and ``send`` with a
``payload`` after the ``> `` prompt, through the whole runner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from scenario_tool.cli import EXIT_FAILED, EXIT_OK, run_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sms_profile(tmp_path: Path) -> str:
    path = tmp_path / "sms.json"
    path.write_text(
        json.dumps(
            {
                "extends": "EC200U",
                "command_families": [
                    "basic",
                    "identity",
                    "sim",
                    "network",
                    "pdp",
                    "power",
                    "clock",
                    "sms",
                ],
            }
        )
    )
    return str(path)


def run(files: list[Path], **options: object) -> tuple[int, str]:
    lines: list[str] = []
    status = run_files(
        files,
        progress=lines.append,
        summary=lines.append,
        err=lines.append,
        **options,  # type: ignore[arg-type]
    )
    return status, "\n".join(lines)


def test_the_sms_example_runs(tmp_path: Path, sms_profile: str) -> None:
    transcript = tmp_path / "t.log"
    status, text = run(
        [ROOT / "scenarios" / "examples" / "sms.yaml"], profile=sms_profile, transcript=transcript
    )
    assert status == EXIT_OK, text
    log = transcript.read_text()
    assert "sms>" in log and "Is the pump running?" in log
    assert "SmsSent(" in log  # the module's event, in the transcript


def test_an_sms_never_sent_fails_with_what_was_sent(tmp_path: Path, sms_profile: str) -> None:
    path = tmp_path / "fail.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: sms-fail
            steps:
              - send: AT+CMGF=1
              - send: AT+CMGS="10086"
                payload: hello
              - fault: sms_reject
                code: 42
              - send: AT+CMGS="10086"
                payload: refused
                expect: ['+CMS ERROR: 42']
              - fault: sms_reject
                reject: false
              - sms_sent: goodbye
                within: 0.5
            """
        )
    )
    status, text = run([path], profile=sms_profile)
    assert status == EXIT_FAILED
    assert "expected: an SMS 'goodbye' within 0.5 s" in text
    assert "got:      sent 10086: 'hello'" in text


def test_a_refused_prompt_command_and_an_undeliverable_sms(
    tmp_path: Path, sms_profile: str
) -> None:
    path = tmp_path / "refused.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: sms-refused
            steps:
              - send: AT+CMGS=3
                payload: "00"
                expect: ['+CME ERROR: 50']
              - fault: network_cut
              - deliver_sms: nobody home
            """
        )
    )
    status, text = run([path], profile=sms_profile)
    assert status == EXIT_FAILED
    assert "the module is not registered to a network" in text
