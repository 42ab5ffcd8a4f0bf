"""What ``quecemu`` says about itself and about bad input (exit 2, the reason named)."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.app import cli
from tests.transport.helpers import REPO, run_cli


def test_help_explains_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout and "profiles" in result.stdout


def test_serve_help_explains_every_option() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for option in (
        "--model",
        "--profile",
        "--imei",
        "--link",
        "--tcp",
        "--state-dir",
        "--count",
        "--trace",
        "--baud",
        "--urc-before-echo",
        "--headless",
    ):
        assert option in result.stdout
    assert "ready" in result.stdout  # the printed lines are documented


def test_profiles_lists_the_built_in_models() -> None:
    result = run_cli("profiles")
    assert result.returncode == 0
    assert "EC200U" in result.stdout and "Quectel" in result.stdout


def test_the_console_script_is_the_same_program() -> None:
    script = Path(sys.executable).with_name("quecemu")
    if not script.exists():
        pytest.skip("quecemu console script not installed in this environment")
    import subprocess

    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "serve" in result.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "required: COMMAND"),
        (("serve", "--imei", "12345"), "IMEI '12345' is not valid: it is not 15 digits"),
        (("serve", "--imei", "869339060001966"), "check digit is wrong"),
        (("serve", "--imei", "999999999999994", "--count", "2"), "overflows"),
        (("serve", "--count", "0"), "argument --count: '0' is not a positive number"),
        (("serve", "--count", "three"), "argument --count: 'three' is not a whole number"),
        (("serve", "--baud", "-9600"), "argument --baud"),
        (("serve", "--tcp", "localhost:http"), "argument --tcp: 'localhost:http' is not HOST:PORT"),
        (("serve", "--tcp", "127.0.0.1:70000"), "port 70000 is not 0-65535"),
        (("serve", "--tcp", "127.0.0.1:65535", "--count", "2"), "goes past 65535"),
        (("serve", "--model", "EC999"), "unknown profile 'EC999'; built-in profiles: "),
        (("serve", "--model", "EC200U", "--profile", "x.json"), "not allowed with argument"),
        (("serve", "--profile", "/nonexistent/p.json"), "cannot read profile"),
        (("serve", "--count", "200000"), "--count 200000 is not 1-100000"),
        (("serve", "--headless", "--tcp", "127.0.0.1:0"), "--headless modules have no AT port"),
        (("serve", "--headless", "--link", "/tmp/x"), "--headless modules have no AT port"),
        (("serve", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_named_and_exits_2(args: tuple[str, ...], reason: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result
    assert "usage: quecemu" in result.stderr
    assert reason in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_missing_plugin_is_skipped() -> None:
    assert cli._import_plugin("emulator.no_such_package.cli") is None
    assert cli._import_plugin("emulator.adapters.port.no_such_cli") is None


def test_a_broken_plugin_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_plugin_for_test.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        cli._import_plugin("broken_plugin_for_test")


def test_plugins_add_their_sub_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook as emulator.app.server_cli / scenario_tool.cli use it."""
    calls: list[str] = []

    class Plugin:
        @staticmethod
        def add_subparser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
            parser = subparsers.add_parser("plugged", help="a plug-in command")
            parser.add_argument("--n", type=int, default=1)

            async def run(args: argparse.Namespace) -> int:
                calls.append(f"ran with {args.n}")
                return 3

            parser.set_defaults(func=run)

    monkeypatch.setattr(cli, "PLUGIN_MODULES", ("fake.plugin",))
    monkeypatch.setattr(cli, "_import_plugin", lambda name: Plugin)
    assert cli.main(["plugged", "--n", "7"]) == 3
    assert calls == ["ran with 7"]


def test_a_pty_count_past_the_descriptor_limit_points_at_headless() -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1000, 1000))

    result = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--count", "500"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        preexec_fn=low_limit,
    )
    assert result.returncode == 2, result
    assert "--count 500 needs 1064 file descriptors" in result.stderr, result.stderr
    assert "or --headless: no AT port until one is asked for" in result.stderr
    assert "Traceback" not in result.stderr
