"""``python -m client_api run``: QuecPython scripts run unmodified against the fake module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from client_api.quecpython.machine import gpio
from client_api.runtime import RunOptions, run_script
from tests.client_api.capi_fake import FakeModule, error, ok, urc_bytes

APPS = Path(__file__).parent / "apps"
RUN_LIMIT = 60  # seconds a subprocess may take before the test fails (it never should)


def run(
    app: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("QUECEMU_PORT", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "client_api", "run", str(app), *args],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
        env=environment,
    )


def script_module(fake: FakeModule) -> None:
    """Answers of a registered EC200U with a working LwM2M client."""
    fake.answer("AT+CPIN?", ok("+CPIN: READY"))
    fake.answer("AT+CEREG?", ok("+CEREG: 0,1"))
    fake.answer("AT+QIACT?", ok('+QIACT: 1,1,1,"10.46.73.41"'))
    fake.answer("AT+QIDNSCFG=1", error())
    fake.answer("AT+CGSN", ok("869339060001965"))
    fake.answer("AT+QLWSTAT?", ok("+QLWSTAT: 2"))
    for line in (
        'AT+QLWCFG="reset"',
        'AT+QLWCFG="security",1',
        'AT+QLWCFG="security",0',
        'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:5683",0,3',
        'AT+QLWCFG="server",1,60,2,60,86400,1,"U"',
        'AT+QLWCFG="epname/mode",3',
        'AT+QLWCFG="fota",0,1',
    ):
        fake.answer(line, ok())
    fake.answer(
        "AT+QLWREG",
        ok()
        + urc_bytes('+QLWURC: "registering"')
        + urc_bytes('+QLWURC: "ready","successfully",1000'),
    )


def test_lwm2m_application_runs_to_ready(fake: FakeModule) -> None:
    script_module(fake)
    done = run(
        APPS / "lwm2m_app.py",
        "--port",
        fake.url,
        "--until-urc",
        '"ready","successfully"',
        "--timeout",
        "30",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[lwm2m_app] network stage=3 state=1" in out
    assert "[lwm2m_app] imei 869339060001965 init 0" in out
    assert "[lwm2m_app] config results [0, 0, 0, 0]" in out
    assert "[lwm2m_app] register 0" in out
    assert "[lwm2m_app] event [1, 0, '+QLWURC: \"registering\"']" in out
    assert '[lwm2m_app] event [1, 0, \'+QLWURC: "ready","successfully",1000\']' in out
    assert "[lwm2m_app] Connect Success!" in out
    assert "[lwm2m_app] stat 2" in out  # a command sent from inside the callback
    assert "INFO:lwm2m_app:register took" in done.stderr
    sent = fake.received.decode()
    order = [
        'AT+QLWCFG="reset"\r',
        'AT+QLWCFG="security",1\r',
        'AT+QLWCFG="security",0\r',
        'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:5683",0,3\r',
        'AT+QLWCFG="server",1,60,2,60,86400,1,"U"\r',
        'AT+QLWCFG="epname/mode",3\r',
        'AT+QLWCFG="fota",0,1\r',
        "AT+QLWREG\r",
        "AT+QLWSTAT?\r",
    ]
    positions = [sent.find(line) for line in order]
    assert -1 not in positions and positions == sorted(positions), sent


def test_port_from_the_environment(fake: FakeModule) -> None:
    done = run(APPS / "prints_and_ends.py", "--", "a", "b", env={"QUECEMU_PORT": fake.url})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "args ['a', 'b']\nticks ok True\n"


def test_missing_module_is_named(fake: FakeModule) -> None:
    done = run(APPS / "imports_missing.py", "--port", fake.url)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'audio'" in done.stderr
    assert "does not provide it" in done.stderr and "checkNet" in done.stderr
    assert "unreachable" not in done.stdout


def test_timeout_stops_a_script_that_never_ends(fake: FakeModule) -> None:
    done = run(APPS / "loops_forever.py", "--port", fake.url, "--timeout", "0.5")
    assert done.returncode == 124
    assert done.stdout == "looping\n"
    assert "--timeout 0.5 s reached" in done.stderr


def test_no_port_is_a_usage_error() -> None:
    done = run(APPS / "prints_and_ends.py")
    assert done.returncode == 2
    assert "QUECEMU_PORT" in done.stderr


def test_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    done = run(tmp_path / "nothere.py", "--port", "loop://")
    assert done.returncode == 2 and "no such script" in done.stderr


def test_run_script_in_process_leaves_pins_visible(fake: FakeModule) -> None:
    gpio.clear()
    status = run_script(RunOptions(script=APPS / "gpio_blink.py", port=fake.url))
    assert status == 0
    assert gpio.level(10) == 1 and gpio.direction(10) == 1
    assert "machine" not in sys.modules  # uninstalled after the run


@pytest.mark.parametrize("app", ["prints_and_ends.py"])
def test_in_process_run_restores_argv(fake: FakeModule, app: str) -> None:
    saved = list(sys.argv)
    assert run_script(RunOptions(script=APPS / app, port=fake.url, args=("x",))) == 0
    assert sys.argv == saved


# --------------------------------------------------------------- system modules
def test_builtins_win_and_app_modules_shadow_pc_modules(fake: FakeModule) -> None:
    done = run(APPS / "shadowing" / "main.py", "--port", fake.url, "--uart", "2=loop://")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "net is the built-in: True",
        "serial: the application's serial.py",
        "queue: the application's queue.py",
        "from serial: the application's serial.py",
        "json: the application's json package / the application's json package",
        'ujson still works: {"a": 1}',
        "uart echo: b'ping'",
    ]
    assert "the application's" in done.stderr and "net.py is not used" in done.stderr
    assert "built-in module 'net' comes first" in done.stderr


def test_a_running_timer_keeps_the_run_open(fake: FakeModule) -> None:
    done = run(APPS / "timers_then_idle.py", "--port", fake.url, "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "main done\ntick 1\ntick 2\ntick 3\n"


def test_an_unfed_watchdog_ends_the_run(fake: FakeModule) -> None:
    done = run(APPS / "watchdog_unfed.py", "--port", fake.url, "--timeout", "30")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "armed\n"
    assert "machine.WDT was not fed for 1 s" in done.stderr


def test_bad_uart_option_is_a_usage_error(fake: FakeModule) -> None:
    done = run(APPS / "prints_and_ends.py", "--port", fake.url, "--uart", "9=/dev/null")
    assert done.returncode == 2
    assert "expected N=PORT with N a UART number 0-4" in done.stderr


def test_usr_must_be_a_folder(fake: FakeModule, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    done = run(APPS / "prints_and_ends.py", "--port", fake.url, "--usr", str(not_a_folder))
    assert done.returncode == 2
    assert f"--usr {not_a_folder} is not a folder" in done.stderr


def test_app_modules_stay_private_when_run_from_the_app_folder(fake: FakeModule) -> None:
    """The current directory is on sys.path for `python -m`; the app's serial.py must not
    reach pyserial's own lazy imports from there either."""
    folder = APPS / "shadowing"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "client_api",
            "run",
            "main.py",
            "--port",
            fake.url,
            "--uart",
            "2=loop://",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 0, done.stderr
    assert "uart echo: b'ping'" in done.stdout


def test_the_module_is_rebooted_before_the_script_unless_told_not_to(fake: FakeModule) -> None:
    done = run(APPS / "prints_and_ends.py", "--port", fake.url)
    assert done.returncode == 0, done.stdout + done.stderr
    sent = drain(fake)
    assert sent[:2] == ["AT+CFUN=1,1", "AT"], sent
    done = run(APPS / "prints_and_ends.py", "--port", fake.url, "--keep-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AT+CFUN=1,1" not in drain(fake)


def drain(fake: FakeModule) -> list[str]:
    """The commands the fake received since the last drain."""
    sent = []
    while not fake.commands.empty():
        sent.append(fake.commands.get())
    return sent


def test_a_module_that_does_not_come_back_is_named(fake: FakeModule) -> None:
    fake.answer("AT+CFUN=1,1", ok())  # never says RDY
    done = subprocess.run(
        [sys.executable, "-c", RUN_WITH_SHORT_BOOT, str(APPS / "prints_and_ends.py"), fake.url],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "did not boot again (no RDY, and its port did not come back, within 0.5 s" in (
        done.stderr
    )
    fake.answer("AT+CFUN=1,1", error())
    done = run(APPS / "prints_and_ends.py", "--port", fake.url)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "did not reboot (AT+CFUN=1,1:" in done.stderr and "--keep-state" in done.stderr


# The whole CLI with a short boot limit (the default is 30 s).
RUN_WITH_SHORT_BOOT = """
import sys
from client_api import runtime
from client_api.__main__ import main
runtime.BOOT_LIMIT = 0.5
sys.exit(main(["run", sys.argv[1], "--port", sys.argv[2]]))
"""


def test_a_module_whose_port_comes_back_after_the_reset_is_ready(tmp_path: Path) -> None:
    # A USB module re-enumerates on AT+CFUN=1,1: the port goes away (the OK may be lost with
    # it) and comes back, and its AT port need not show RDY.
    fake = FakeModule(link=tmp_path / "ttyUSB2")
    try:

        def reset(line: str) -> None:
            fake.vanish()
            fake.come_back()

        fake.answer("AT+CFUN=1,1", reset)
        done = run(APPS / "prints_and_ends.py", "--port", fake.url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "AT" in drain(fake)  # asked again once the port was back
    finally:
        fake.close()
