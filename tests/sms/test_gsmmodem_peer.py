"""python-gsmmodem-new (PyPI), as its users drive a modem, against ``quecemu serve`` on a pty.

``connect()`` must run with no error but the other vendors' probes it sends on purpose
(Huawei ^CVOICE/^DTMF/^USSDMODE, Wavecom +WIND, ZTE +ZPAS, SIMCom +DDET); identity, signal
and operator are read; an SMS sent through the library arrives on the network side
(``serve --control`` prints it) and an SMS the network delivers reaches the library's
callback, in PDU mode and in text mode.
"""

from __future__ import annotations

import json
import queue
import re
import time
from pathlib import Path
from typing import Any

import pytest
from gsmmodem.exceptions import CommandError
from gsmmodem.modem import GsmModem, ReceivedSms
from gsmmodem.util import lineStartingWith

from tests.transport.helpers import ServeProcess

TIMEOUT = 30.0  # generous: the machine is shared
OTHER_VENDORS = re.compile(r"^AT(\^CVOICE|\^DTMF|\^USSDMODE|\+WIND|\+ZPAS|\+DDET)")
NETWORK_SENDER = "+8613912345678"


def unexpected(refused: list[str]) -> list[str]:
    """Refused commands other than the vendor probes the library sends on purpose."""
    return [command for command in refused if not OTHER_VENDORS.match(command)]


class RecordingModem(GsmModem):  # type: ignore[misc]  # the library is untyped
    """GsmModem as is; it only notes which commands the module refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: list[str] = []

    def write(self, data: str, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().write(data, *args, **kwargs)
        except CommandError:
            self.refused.append(data)
            raise
        if response and "ERROR" in response[-1]:
            self.refused.append(data)
        return response


def next_line(proc: ServeProcess, prefix: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    while True:
        line = proc.read_line(max(0.1, deadline - time.monotonic()))
        assert line is not None, f"serve ended; stderr: {proc.stderr()}"
        if line.startswith(prefix):
            return line


def sent_on_network(proc: ServeProcess) -> tuple[str, str]:
    line = next_line(proc, "sms sent 0 ")
    _, _, _, destination, text = line.split(" ", 4)
    return destination, json.loads(text)


def deliver(proc: ServeProcess, text: str) -> str:
    proc.write_line(f"sms 0 {NETWORK_SENDER} {json.dumps(text)}")
    return next_line(proc, "sms delivered 0 ")


@pytest.fixture
def served(tmp_path: Path) -> Any:
    link = tmp_path / "ttyQ"
    with ServeProcess(
        "serve", "--link", link, "--control", stderr_path=tmp_path / "stderr", stdin_pipe=True
    ) as proc:
        proc.wait_ready()
        yield proc, link
        assert proc.stop() == 0
        assert "Traceback" not in proc.stderr()


def test_gsmmodem_connects_reads_identity_and_exchanges_sms(served: Any) -> None:
    proc, link = served
    inbox: queue.Queue[ReceivedSms] = queue.Queue()
    modem = RecordingModem(str(link), 115200, smsReceivedCallbackFunc=inbox.put)
    modem.connect()
    try:
        assert unexpected(modem.refused) == []
        assert modem.manufacturer == "Quectel"
        assert modem.model == "EC200U"
        assert modem.revision == "EC200UCNAAR03A15M08"
        assert modem.imei == "869339060001965"
        assert modem.imsi == "460025191757605"
        assert modem.signalStrength == 24
        assert modem.networkName == "CHINA MOBILE"
        assert modem.smsc == "+8613800100500"

        # PDU mode (the library's default), with characters of the extension table.
        assert not modem.smsTextMode
        sms = modem.sendSms("+8613700001111", "Hello from gsmmodem [PDU] €5")
        assert sent_on_network(proc) == ("+8613700001111", "Hello from gsmmodem [PDU] €5")
        assert sms.reference == 0
        assert deliver(proc, "Hi there, PDU mode €") == (
            f"sms delivered 0 {NETWORK_SENDER} stored ME 0"
        )
        received = inbox.get(timeout=TIMEOUT)
        assert (received.number, received.text) == (NETWORK_SENDER, "Hi there, PDU mode €")

        # UCS2, and a text longer than one message (concatenated parts) both ways.
        modem.sendSms("10086", "你好, 世界")
        assert sent_on_network(proc) == ("10086", "你好, 世界")
        long_text = "A long message from the host. " * 8
        modem.sendSms("10086", long_text)
        parts = [sent_on_network(proc)[1], sent_on_network(proc)[1]]
        assert "".join(parts) == long_text

        # Text mode.
        modem.smsTextMode = True
        modem.sendSms("+8613700001111", "Hello from gsmmodem in text mode")
        assert sent_on_network(proc) == ("+8613700001111", "Hello from gsmmodem in text mode")
        assert deliver(proc, "Reply in text mode") == (
            f"sms delivered 0 {NETWORK_SENDER} stored ME 0"  # the callback deleted index 0
        )
        received = inbox.get(timeout=TIMEOUT)
        assert (received.number, received.text) == (NETWORK_SENDER, "Reply in text mode")
        assert received.time.utcoffset() is not None
        # After its callback the library deletes the message (AT+CMGD) on its own thread:
        # wait until the storage is empty, so that closing does not cut that command off.
        deadline = time.monotonic() + TIMEOUT
        while (
            lineStartingWith("+CPMS:", modem.write("AT+CPMS?"))
            != '+CPMS: "ME",0,255,"ME",0,255,"ME",0,255'
        ):
            assert time.monotonic() < deadline, "the library did not delete what it read"
        assert unexpected(modem.refused) == []
    finally:
        modem.close()
