"""QuecPython's ``sms`` module over AT against ``quecemu serve --control`` on a pty: what a
script sends is seen on the network side, what the network delivers reaches the callback
and reads back, and bad calls give -1 or a clear error naming the call."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_api
from client_api.channel import AtChannel
from client_api.quecpython import sms
from tests.client_api.capi_emulator import BASELINE_FAMILIES, Emulator

WAIT = 30.0
SENDER = "+8613912345678"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    profile = tmp_path / "sms-profile.json"
    profile.write_text(
        json.dumps({"extends": "EC200U", "command_families": [*BASELINE_FAMILIES, "sms"]})
    )
    emu = Emulator(tmp_path, "--control", "--profile", str(profile), lwm2m=False)
    yield emu
    emu.stop()


@pytest.fixture
def at(emulator: Emulator) -> Iterator[AtChannel]:
    channel = client_api.open(str(emulator.link), command_timeout=10.0, reconnect_interval=0.05)
    assert channel.wait_connected(WAIT)
    yield channel
    channel.close()


def control(emulator: Emulator, line: str) -> None:
    assert emulator.process is not None and emulator.process.proc.stdin is not None
    emulator.process.proc.stdin.write(line + "\n")
    emulator.process.proc.stdin.flush()


def sent(emulator: Emulator) -> tuple[str, str]:
    assert emulator.process is not None
    line = emulator.process.wait_line(lambda text: text.startswith("sms sent 0 "), WAIT)
    _, _, _, destination, text = line.split(" ", 4)
    return destination, json.loads(text)


def test_send_text_and_pdu_messages(emulator: Emulator, at: AtChannel) -> None:
    assert sms.sendTextMsg("+8613700001111", "Hello, world.", "GSM") == 0
    assert sent(emulator) == ("+8613700001111", "Hello, world.")
    assert sms.sendTextMsg("18158626517", "这是一条中文测试短信!", "UCS2") == 0
    assert sent(emulator) == ("18158626517", "这是一条中文测试短信!")
    assert sms.sendPduMsg("10086", "send pdu msg by UCS2 mode.", "UCS2") == 0
    assert sent(emulator) == ("10086", "send pdu msg by UCS2 mode.")
    long_text = "A long message in parts. " * 12  # 300 characters: two parts
    assert sms.sendTextMsg("10086", long_text, "GSM") == 0
    assert sent(emulator)[1] + sent(emulator)[1] == long_text


def test_bad_sends_are_minus_one(at: AtChannel) -> None:
    assert sms.sendTextMsg("10086", "x", "ASCII") == -1
    assert sms.sendTextMsg("10086", "", "GSM") == -1
    assert sms.sendTextMsg("10086", "中文", "GSM") == -1  # not in the GSM alphabet
    assert sms.sendTextMsg("1" * 21, "x", "GSM") == -1
    assert sms.sendTextMsg("10086", "x" * 641, "GSM") == -1
    assert sms.sendTextMsg("10086", "中" * 141, "UCS2") == -1
    assert sms.sendPduMsg(10086, "x", "GSM") == -1


def test_receive_with_the_callback_then_read_and_delete(emulator: Emulator, at: AtChannel) -> None:
    news: queue.Queue[tuple[int, int, str]] = queue.Queue()
    assert sms.setCallback(news.put) == 0
    assert sms.getSaveLoc() == (["SM", 0, 50], ["SM", 0, 50], ["SM", 0, 50])
    control(emulator, f'sms 0 {SENDER} "Hello module, 你好"')
    sim_id, index, storage = news.get(timeout=WAIT)
    assert (sim_id, storage) == (0, "SM")
    assert sms.getMsgNums() == 1
    assert sms.searchTextMsg(index) == (SENDER, "Hello module, 你好", 32)
    pdu = sms.searchPduMsg(index)
    assert isinstance(pdu, str)
    length = sms.getPduLength(pdu)
    assert length == len(pdu) // 2 - 9  # the 9-octet SMSC address is not counted
    decoded = sms.decodePdu(pdu, length)
    assert isinstance(decoded, tuple)
    assert decoded[0] == SENDER and decoded[1] == "Hello module, 你好" and decoded[3] == 32
    assert len(decoded[2]) == len("2021-07-13 09:34:44")
    assert sms.deleteMsg(index) == 0
    assert sms.getMsgNums() == 0
    assert sms.searchTextMsg(index) == -1  # nothing there any more
    control(emulator, f"sms 0 {SENDER} one")
    control(emulator, f"sms 0 {SENDER} two")
    news.get(timeout=WAIT)
    news.get(timeout=WAIT)
    assert sms.getMsgNums() == 2
    assert sms.deleteMsg(0, 4) == 0
    assert sms.getMsgNums() == 0


def test_storage_and_service_centre(at: AtChannel) -> None:
    assert sms.setSaveLoc("ME", "ME", "ME") == 0
    assert sms.getSaveLoc() == (["ME", 0, 255], ["ME", 0, 255], ["ME", 0, 255])
    assert sms.setSaveLoc("SM", "ME", "MT") == -1  # the emulator has no "MT": +CMS ERROR 302
    assert sms.setSaveLoc("SM", "XX", "SM") == -1
    assert sms.getCenterAddr() == "+8613800100500"
    assert sms.setCenterAddr("+8613800551500") == 0
    assert sms.getCenterAddr() == "+8613800551500"
    assert sms.setCenterAddr("not a number") == -1
    assert sms.getPduLength("zz") == -1
    assert sms.decodePdu("00", 0) == -1
    assert sms.deleteMsg(0, 9) == -1
    assert sms.setCallback("not callable") == -1


def test_what_is_not_provided_is_named() -> None:
    with pytest.raises(AttributeError, match=r"sms\.sendMms is not provided"):
        sms.sendMms  # noqa: B018
