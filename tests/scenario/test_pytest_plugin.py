"""The pytest plugin as a firmware team meets it: the documented example test file runs in a
pytest of its own (another folder, no configuration of ours) and passes; a failing scenario
fails the team's test with the step and the transcript; pyproject declares the entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PLUGIN = "scenario_tool.pytest_plugin"


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest`` in ``folder`` as the team runs it: the plugin is there once quecemu is
    installed; before this checkout is installed, it is named with ``-p``."""
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", PLUGIN]
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    (folder / "pytest.ini").write_text("[pytest]\n")  # none of this project's settings
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_documented_example_passes(tmp_path: Path) -> None:
    for name in ("test_with_quecemu.py", "registration.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout, done.stdout


def test_a_failing_scenario_fails_the_test_with_the_step_and_the_transcript(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_wrong.py").write_text(
        "def test_wrong_manufacturer(quecemu_scenarios):\n"
        "    quecemu_scenarios.check('''\n"
        "name: wrong\n"
        "steps:\n"
        "  - send: AT+CGMI\n"
        "    expect: [Nokia, OK]\n"
        "''')\n"
        "\n"
        "def test_a_bad_marker(quecemu_module):\n"
        "    pass\n"
        "test_a_bad_marker.pytestmark = [__import__('pytest').mark.quecemu_module(modem='x')]\n"
    )
    done = run_pytest(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "wrong: failed: step 1 (send AT+CGMI) at <test>:4: expected Nokia | OK; got" in out
    assert "at>>   AT+CGMI" in out  # the transcript excerpt
    assert "@pytest.mark.quecemu_module: unknown modem" in out


def test_the_module_fixture_serves_a_pty_the_team_can_drive(tmp_path: Path) -> None:
    (tmp_path / "test_port.py").write_text(
        "import serial\n"
        "\n"
        "def test_raw_port(quecemu_module):\n"
        "    quecemu_module.set_coverage(False)\n"
        "    assert quecemu_module.at('AT+CEREG?') == ['+CEREG: 0,2', 'OK']  # searching\n"
        "    quecemu_module.set_coverage(True)\n"
        "    with serial.Serial(quecemu_module.port, 115200, timeout=5) as port:\n"
        "        port.write(b'AT+GSN\\r')\n"
        "        seen = b''\n"
        "        while b'OK' not in seen:\n"
        "            seen += port.read(1)\n"
        "    assert quecemu_module.imei.encode() in seen\n"
        "\n"
        "def test_profile_from_the_ini(quecemu_module):\n"
        "    assert quecemu_module.profile == 'EC200A'\n"
        "    assert 'EC200A' in ' '.join(quecemu_module.at('AT+CGMM'))\n"
    )
    done = run_pytest(tmp_path, "-o", "quecemu_profile=EC200A")
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyproject_declares_the_plugin_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"quecemu": PLUGIN}
