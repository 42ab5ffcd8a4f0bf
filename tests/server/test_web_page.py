"""The web page of ``quecemu server --http`` in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium): a virtual module started with ``quecemu serve`` registers
over real UDP, appears on the page live, and a person's clicks read, write, observe, execute
and discover its resources. The write is proven where the firmware sees it: the URC on the
module's AT port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.transport.helpers import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "docs" / "web-page.png"
WAIT = 30.0  # generous: two shared cores, a browser and three processes


def _drain(stream: IO[str]) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by stop()
        for _ in stream:
            pass


class ServerProcess:
    """``quecemu server --coap 127.0.0.1:0 --http 127.0.0.1:0``; its URLs from its stdout."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "server",
             "--coap", "127.0.0.1:0", "--http", "127.0.0.1:0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.urls: dict[str, str] = {}
        assert self.proc.stdout is not None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"quecemu server ended: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            if line.startswith("listening "):
                _, name, url = line.split()
                self.urls[name] = url
            if line.strip() == "ready":
                # Keep reading its event lines so a full pipe never blocks it.
                threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
                return
        raise TimeoutError("quecemu server did not get ready")

    def stop(self) -> str:
        """Stop it; what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        errors = ""
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            errors = self.proc.stderr.read()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return errors


class AtSession:
    """The module's AT port over TCP."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=WAIT)
        self.buffer = b""

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r")
        return self.until(b"OK\r\n")

    def until(self, marker: bytes) -> bytes:
        deadline = time.monotonic() + WAIT
        while marker not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {marker!r} on the AT port; got {self.buffer!r}")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"the AT port closed; got {self.buffer!r}")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not os.access(program, os.X_OK):
            pytest.fail(f"{program} is missing: make test installs chromium and chromium-driver")
    profile = tempfile.mkdtemp(prefix="quecemu-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_a_person_reads_and_writes_a_registered_module(browser: WebDriver, tmp_path: Path) -> None:
    server = ServerProcess()
    module = ServeProcess("serve", "--tcp", "127.0.0.1:0", stderr_path=tmp_path / "serve.err")
    at: AtSession | None = None
    try:
        (line,) = module.wait_ready()
        assert line.tcp is not None
        at = AtSession(line.tcp)
        endpoint = f"urn:imei:{line.imei}"
        browser.get(server.urls["http"])
        wait = WebDriverWait(browser, WAIT)
        wait.until(expected_conditions.text_to_be_present_in_element(
            (By.ID, "stream-state"), "live"))  # fmt: skip

        at.command(f'AT+QLWCFG="security",1,1000,"{server.urls["coap"]}",0,3')
        at.command('AT+QLWCFG="server",1,300,1,60,86400,0,"U"')
        at.command("AT+QLWREG")
        at.until(b'+QLWURC: "ready","successfully",1000')

        # The client appears without a reload: the page follows the event stream.
        selector = f'#clients li[data-endpoint="{endpoint}"]'
        wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector)))
        browser.find_element(By.CSS_SELECTOR, selector).click()

        # Read: the Manufacturer cell fills with what the module answered over CoAP.
        row = '#objects tr[data-path="/3/0/0"]'
        wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, f"{row} .read")))
        browser.find_element(By.CSS_SELECTOR, f"{row} .read").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{row} td.value").text.strip())
        assert browser.find_element(By.CSS_SELECTOR, f"{row} td.value").text == "Quectel"

        # Write: Current Time; the firmware sees the URC with the Unix time typed in.
        row = '#objects tr[data-path="/3/0/13"]'
        browser.find_element(By.CSS_SELECTOR, f"{row} input.write-value").send_keys("1700000000")
        browser.find_element(By.CSS_SELECTOR, f"{row} .write").click()
        at.until(b'+QLWURC: "current_time_changed",1700000000')
        wait.until(lambda d: "2023-11-14T22:13" in d.find_element(
            By.CSS_SELECTOR, f"{row} td.value").text)  # fmt: skip
        wait.until(lambda d: "write /3/0/13: CHANGED" in d.find_element(By.ID, "results").text)
        # The CoAP log of the selected client shows the exchange.
        wait.until(lambda d: "PUT" in d.find_element(By.ID, "coaplog").text)

        # Observe the UTC offset, change it from the page: the notification shows up.
        row = '#objects tr[data-path="/3/0/14"]'
        browser.find_element(By.CSS_SELECTOR, f"{row} .observe").click()
        wait.until(lambda d: "observe /3/0/14: CONTENT" in d.find_element(By.ID, "results").text)
        browser.find_element(By.CSS_SELECTOR, f"{row} input.write-value").send_keys("+02")
        browser.find_element(By.CSS_SELECTOR, f"{row} .write").click()
        wait.until(lambda d: f"{endpoint} /3/0/14 = +02" in d.find_element(
            By.ID, "notifications").text)  # fmt: skip
        # Execute (Registration Update Trigger) and Discover.
        row = '#objects tr[data-path="/1/0/8"]'
        browser.find_element(By.CSS_SELECTOR, f"{row} .execute").click()
        wait.until(lambda d: "execute /1/0/8: CHANGED" in d.find_element(By.ID, "results").text)
        browser.find_element(By.CSS_SELECTOR, '#objects div[data-path="/3/0"] .discover').click()
        wait.until(lambda d: "links: </3/0>" in d.find_element(By.ID, "results").text)

        # The whole Device instance, for the picture in the docs.
        browser.find_element(By.CSS_SELECTOR, '#objects div[data-path="/3/0"] .read').click()
        wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '#objects tr[data-path="/3/0/1"] td.value').text.strip())  # fmt: skip
        browser.execute_script("document.querySelector('#client').scrollTop = 0")
        browser.save_screenshot(str(tmp_path / "web-page.png"))
        if os.environ.get("QUECEMU_UPDATE_SCREENSHOT"):
            shutil.copy(tmp_path / "web-page.png", SCREENSHOT)
        errors = server.stop()
        assert "Traceback" not in errors, errors
    finally:
        if at is not None:
            at.close()
        module.stop()
        server.stop()
