"""``make demo LESHAN=URL LESHAN_BS=URL``: the bootstrap server's URL reaches the conformance
run, so the bootstrap scenarios (int-0) run against that Leshan too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator.app import demo

REPO = Path(__file__).resolve().parents[2]


def test_leshan_bs_reaches_the_scenario_runner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def run_files(files: list[Path], **options: Any) -> int:
        seen.update(options, files=files)
        return 0

    monkeypatch.setattr("scenario_tool.cli.run_files", run_files)
    assert demo._run_conformance("http://leshan:8080", tmp_path, "http://leshan:8081") == 0
    assert seen["server"] == "leshan"
    assert seen["leshan_url"] == "http://leshan:8080"
    assert seen["leshan_bootstrap_url"] == "http://leshan:8081"
    assert "int-0-client-initiated-bootstrap.yaml" in {path.name for path in seen["files"]}


def test_leshan_bs_alone_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--leshan-bs", "http://leshan:8081"])
    assert exit_info.value.code == 2
    assert "--leshan-bs needs --leshan" in capsys.readouterr().err


def test_make_demo_passes_both_urls() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", "demo", "LESHAN=http://l:8080", "LESHAN_BS=http://l:8081"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    command = result.stdout.replace("\\\n", " ")
    assert "-m emulator.app.demo --leshan http://l:8080" in command
    assert "--leshan-bs http://l:8081" in command
