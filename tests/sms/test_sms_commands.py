"""SMS commands byte-exact in each form, with their error cases (3GPP TS 27.005).

Every exchange runs with echo off so that the bytes shown are exactly the module's answer.
PDUs the module produces are checked with python-gsmmodem-new's decoder (a library nobody
here wrote), and PDUs the module accepts are made with its encoder.
"""

from __future__ import annotations

import pytest
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu

from emulator.module.events import RebootCause
from emulator.module.nvstore import MemoryNvStore
from emulator.module.state import SimState
from emulator.sms.events import SmsReceived, SmsSent
from emulator.sms.model import NotDeliverable, sms_state
from tests.sms.helpers import SENDER, SmsModule

OK = b"\r\nOK\r\n"


def info(*lines: str) -> bytes:
    return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1") + OK


def cms(code: int) -> bytes:
    return f"\r\n+CMS ERROR: {code}\r\n".encode()


CME50 = b"\r\n+CME ERROR: 50\r\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("AT+CMGF?", info("+CMGF: 0")),
        ("AT+CMGF=?", info("+CMGF: (0,1)")),
        ("AT+CMGF=1", OK),
        ("AT+CMGF=2", CME50),
        ("AT+CMGF=1,0", CME50),
        ('AT+CMGF="1"', CME50),
        ("AT+CMGF", b"\r\nERROR\r\n"),  # no action form
        ("AT+CSCS?", info('+CSCS: "GSM"')),
        ("AT+CSCS=?", info('+CSCS: ("GSM","IRA","UCS2")')),
        ('AT+CSCS="UCS2"', OK),
        ('AT+CSCS="ira"', OK),
        ('AT+CSCS="UTF8"', CME50),
        ("AT+CSCS=1", CME50),
        ("AT+CSCA?", info('+CSCA: "+8613800100500",145')),
        ("AT+CSCA=?", OK),
        ('AT+CSCA="+8613800200500"', OK),
        ('AT+CSCA="0123",129', OK),
        ('AT+CSCA="12x"', cms(305)),
        ('AT+CSCA="+1",999', CME50),
        ("AT+CSCA=", CME50),
        ("AT+CSMP?", info("+CSMP: 17,167,0,0")),
        ("AT+CSMP=?", OK),
        ("AT+CSMP=49,167,0,8", OK),
        ("AT+CSMP=17", OK),
        ("AT+CSMP=16,167,0,0", CME50),  # not an SMS-SUBMIT first octet
        ("AT+CSMP=25,167,0,0", CME50),  # absolute validity needs a time string
        ("AT+CSMP=17,256", CME50),
        ("AT+CSMP=17,167,0,32", cms(305)),  # compressed alphabet
        ("AT+CSMP=17,167,0,0,0", CME50),
        ("AT+CSDH?", info("+CSDH: 0")),
        ("AT+CSDH=?", info("+CSDH: (0,1)")),
        ("AT+CSDH=1", OK),
        ("AT+CSDH=2", CME50),
        ("AT+CPMS=?", info('+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")')),
        ("AT+CPMS?", info('+CPMS: "SM",0,50,"SM",0,50,"SM",0,50')),
        ('AT+CPMS="ME"', info("+CPMS: 0,255,0,50,0,50")),
        ('AT+CPMS="ME","ME","ME"', info("+CPMS: 0,255,0,255,0,255")),
        ('AT+CPMS="SR"', cms(302)),
        ('AT+CPMS="SM","SM","SM","SM"', CME50),
        ("AT+CPMS=1", CME50),
        ("AT+CNMI?", info("+CNMI: 2,1,0,0,0")),
        ("AT+CNMI=?", info("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)")),
        ("AT+CNMI=2,1,0,2", OK),
        ("AT+CNMI=1,2,0,0,0", OK),
        ("AT+CNMI=3", CME50),
        ("AT+CNMI=2,4", CME50),
        ("AT+CNMI=2,1,1", CME50),
        ("AT+CNMI=2,1,0,0,0,0", CME50),
        ("AT+CMGS=?", OK),
        ("AT+CMGW=?", OK),
        ("AT+CMSS=?", OK),
        ("AT+CMGR=?", OK),
        ("AT+CMGL=?", info("+CMGL: (0-4)")),
        ("AT+CMGD=?", info("+CMGD: (),(0-4)")),
        ("AT+CMGR=50", cms(321)),  # SM holds 0-49
        ("AT+CMGR=0", OK),  # an empty location
        ("AT+CMGR", b"\r\nERROR\r\n"),
        ("AT+CMGR=1,2", CME50),
        ("AT+CMGD=0", OK),
        ("AT+CMGD=50", cms(321)),
        ("AT+CMGD=0,5", CME50),
        ("AT+CMGD=999,4", OK),  # a <delflag> over 0 ignores <index>
        ("AT+CMGS=6", CME50),  # PDU mode: a TPDU is at least 7 octets
        ("AT+CMGS=165", CME50),
        ('AT+CMGS="123"', CME50),  # PDU mode takes a length
        ("AT+CMSS=0", cms(321)),
    ],
)
def test_command_forms_and_errors(line: str, expected: bytes) -> None:
    m = SmsModule()
    assert m.at(line) == expected


def test_settings_read_back() -> None:
    m = SmsModule()
    assert m.at("AT+CNMI=2,1,0,2") == OK
    assert m.at("AT+CNMI?") == info("+CNMI: 2,1,0,2,0")  # the omitted <bfr> keeps its value
    assert m.at("AT+CSMP=49,11,0,8") == OK
    assert m.at("AT+CSMP?") == info("+CSMP: 49,11,0,8")
    assert m.at('AT+CSCA="0123",129') == OK
    assert m.at("AT+CSCA?") == info('+CSCA: "0123",129')
    assert m.at('AT+CSCS="UCS2"') == OK
    assert m.at("AT+CSCA?") == info('+CSCA: "0030003100320033",129')  # 27.005: in the TE set
    assert m.at("AT+CMGF=1") == OK
    assert m.at("AT+CMGL=?") == info(
        '+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")'
    )


def test_text_mode_send_prompt_ctrl_z_and_reference() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGS="+8613700001111"') == b"\r\n> "
    assert m.send(b"Hello world") == b""  # no echo with ATE0
    assert m.send(b"\x1a") == b""  # the send takes the network a moment
    m.advance(1.0)
    assert m.take() == info("+CMGS: 0")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert (sent.destination, sent.text, sent.reference, sent.smsc) == (
        "+8613700001111",
        "Hello world",
        0,
        "+8613800100500",
    )
    decoded = decodeSmsPdu("00" + sent.tpdu)
    assert (decoded["type"], decoded["number"], decoded["text"]) == (
        "SMS-SUBMIT",
        "+8613700001111",
        "Hello world",
    )
    assert m.send_message('AT+CMGS="10086",129', b"again\x1a") == info("+CMGS: 1")


def test_text_mode_line_prompts_and_echo() -> None:
    m = SmsModule()
    assert m.at("ATE1") == OK  # typed while echo was off
    assert m.at("AT+CMGF=1") == b"AT+CMGF=1\r" + OK
    assert m.at('AT+CMGS="10086"') == b'AT+CMGS="10086"\r\r\n> '
    assert m.send(b"line one\rline two") == b"line one\r\n> line two"
    assert m.send(b"\x1a") == b""
    m.advance(1.0)
    assert m.take() == info("+CMGS: 0")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert sent.text == "line one\rline two"


def test_esc_cancels_and_nothing_is_sent() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGS="10086"') == b"\r\n> "
    assert m.send(b"never mind\x1b") == OK
    assert not [e for e in m.events() if isinstance(e, SmsSent)]
    assert m.at("AT") == OK
    assert m.at("AT+CMGS=?") == OK  # the reference was not used up either
    assert m.send_message('AT+CMGS="10086"', b"x\x1a") == info("+CMGS: 0")


@pytest.mark.parametrize(
    "payload",
    [
        b"x" * 10_000,  # past the 1024-byte cap
        bytes(b for b in range(256) if b not in (0x1A, 0x1B)) * 4,  # binary
    ],
)
def test_a_runaway_or_binary_payload_leaves_the_port_usable(payload: bytes) -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGS="10086"') == b"\r\n> "
    m.send(payload)
    assert m.send(b"\x1a") == cms(305)
    assert m.at("AT") == OK
    assert m.at("AT+CMGF=0") == OK
    assert m.at("AT+CMGS=20") == b"\r\n> "
    m.send(payload)
    assert m.send(b"\x1a") == cms(304)
    assert m.at("AT+CSQ") == info("+CSQ: 24,99")
    assert not [e for e in m.events() if isinstance(e, SmsSent)]


def test_a_lone_esc_and_a_chunked_prompt() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGS="10086"') == b"\r\n> "
    assert m.send(b"\x1b") == OK
    # A whole exchange fed one byte at a time answers the same.
    assert m.send([bytes([b]) for b in b'AT+CMGS="10086"\rbyte by byte\x1a']) == b"\r\n> "
    m.advance(1.0)
    assert m.take() == info("+CMGS: 0")


def test_urc_during_a_prompt_waits_for_the_result() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGS="10086"') == b"\r\n> "
    sms_state(m.module).deliver_text(SENDER, "incoming", m.now)
    m.run_timers()
    assert m.take() == b""  # nothing inside the prompt
    m.send(b"out\x1a")
    m.advance(1.0)
    assert m.take() == info("+CMGS: 0") + b'\r\n+CMTI: "SM",0\r\n'


def test_pdu_mode_send_with_a_host_library_pdu() -> None:
    m = SmsModule()
    (pdu,) = encodeSmsSubmitPdu("+8613700001111", "Hi €uro [x]", reference=9)
    line = f"AT+CMGS={pdu.tpduLength}"
    assert m.send_message(line, str(pdu).encode() + b"\x1a") == info("+CMGS: 0")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert (sent.text, sent.reference, sent.alphabet) == ("Hi €uro [x]", 0, "gsm7")
    # The module's own TP-MR replaces the host's.
    assert sent.tpdu[2:4] == "00"
    # UCS2 and an SMSC address in front of the TPDU.
    (pdu,) = encodeSmsSubmitPdu("10086", "你好", reference=0, smsc="+8613800300500")
    tpdu_length = len(pdu.data) - 9  # (the library's tpduLength counts wrong with an SMSC)
    assert m.send_message(f"AT+CMGS={tpdu_length}", str(pdu).encode() + b"\x1a") == info("+CMGS: 1")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert (sent.text, sent.alphabet, sent.smsc, sent.destination) == (
        "你好",
        "ucs2",
        "+8613800300500",
        "10086",
    )


def test_pdu_mode_send_errors() -> None:
    m = SmsModule()
    (pdu,) = encodeSmsSubmitPdu("10086", "hello", reference=0)
    text = str(pdu).encode()
    assert m.send_message(f"AT+CMGS={pdu.tpduLength + 1}", text + b"\x1a") == cms(304)
    assert m.send_message(f"AT+CMGS={pdu.tpduLength}", text[:-2] + b"\x1a") == cms(304)
    assert m.send_message("AT+CMGS=10", b"00GG\x1a") == cms(304)
    # An SMS-DELIVER is not something a module sends.
    sms_state(m.module).deliver_text(SENDER, "abc", m.now)
    m.run_timers()
    m.take()
    listing = m.at("AT+CMGR=0").decode().split("\r\n")
    tpdu_hex = listing[2][18:]  # after the 9-octet SMSC address
    length = len(tpdu_hex) // 2
    assert m.send_message(f"AT+CMGS={length}", b"00" + tpdu_hex.encode() + b"\x1a") == cms(304)


def test_sending_needs_network_and_an_smsc() -> None:
    m = SmsModule()
    m.module.set_coverage(False, m.now)
    m.take()
    assert m.at("AT+CMGF=1") == OK
    assert m.send_message('AT+CMGS="10086"', b"x\x1a") == cms(331)
    m = SmsModule(smsc="")
    assert m.at("AT+CSCA?") == info('+CSCA: "",129')
    assert m.at("AT+CMGF=1") == OK
    assert m.send_message('AT+CMGS="10086"', b"x\x1a") == cms(330)
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CPIN: NOT READY\r\n"
    assert m.at('AT+CMGS="10086"') == cms(310)
    assert m.at("AT+CMGR=0") == cms(310)
    assert m.at("AT+CSCA?") == cms(310)
    assert m.at('AT+CPMS="ME"') == info("+CPMS: 0,255,0,50,0,50")  # flash needs no SIM


def test_text_mode_receive_read_list_delete() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.deliver("first") == b'\r\n+CMTI: "SM",0\r\n'
    assert m.deliver("second") == b'\r\n+CMTI: "SM",1\r\n'
    received = [e for e in m.events() if isinstance(e, SmsReceived)]
    assert [(e.text, e.storage, e.index) for e in received] == [
        ("first", "SM", 0),
        ("second", "SM", 1),
    ]
    stamp = '"23/11/14,22:13:25+00"'
    assert m.at("AT+CMGR=0") == info(f'+CMGR: "REC UNREAD","{SENDER}",,{stamp}', "first")
    assert m.at("AT+CMGR=0") == info(f'+CMGR: "REC READ","{SENDER}",,{stamp}', "first")
    assert m.at("AT+CMGL") == info(f'+CMGL: 1,"REC UNREAD","{SENDER}",,{stamp}', "second")
    assert m.at("AT+CMGL") == OK  # listing marked it read
    assert m.at('AT+CMGL="REC READ"') == info(
        f'+CMGL: 0,"REC READ","{SENDER}",,{stamp}',
        "first",
        f'+CMGL: 1,"REC READ","{SENDER}",,{stamp}',
        "second",
    )
    assert m.at("AT+CMGL=1") == CME50  # text mode takes the status as a string
    assert m.at('AT+CMGL="READ"') == CME50
    assert m.at("AT+CMGD=?") == info("+CMGD: (0,1),(0-4)")
    assert m.at("AT+CMGD=0") == OK
    assert m.at("AT+CMGR=0") == OK
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",1,50,"SM",1,50,"SM",1,50')
    assert m.at("AT+CSDH=1") == OK
    assert m.at("AT+CMGR=1") == info(
        f'+CMGR: "REC READ","{SENDER}",,{stamp},145,4,0,0,"+8613800100500",145,6', "second"
    )
    assert m.at('AT+CMGL="ALL"') == info(f'+CMGL: 1,"REC READ","{SENDER}",,{stamp},145,6', "second")


def test_pdu_mode_read_and_list_decode_with_a_host_library() -> None:
    m = SmsModule()
    assert m.deliver("hello €") == b'\r\n+CMTI: "SM",0\r\n'
    answer = m.at("AT+CMGR=0").decode()
    head, pdu = answer.split("\r\n")[1:3]
    assert head == f"+CMGR: 0,,{len(pdu) // 2 - 9}"
    decoded = decodeSmsPdu(pdu)
    assert (decoded["type"], decoded["number"], decoded["text"], decoded["smsc"]) == (
        "SMS-DELIVER",
        SENDER,
        "hello €",
        "+8613800100500",
    )
    assert m.at("AT+CMGL") == OK  # default 0: REC UNREAD, and it was read
    assert m.at("AT+CMGL=4") == info(f"+CMGL: 0,1,,{len(pdu) // 2 - 9}", pdu)
    assert m.at("AT+CMGL=5") == CME50
    assert m.at('AT+CMGL="ALL"') == CME50


def test_long_text_arrives_as_concatenated_parts() -> None:
    m = SmsModule()
    text = "Part of a long message. " * 10  # 240 characters: two parts
    assert m.deliver(text) == b'\r\n+CMTI: "SM",0\r\n\r\n+CMTI: "SM",1\r\n'
    parts = []
    for index in (0, 1):
        pdu = m.at(f"AT+CMGR={index}").decode().split("\r\n")[2]
        parts.append(decodeSmsPdu(pdu))
    assert "".join(p["text"] for p in parts) == text
    headers = [p["udh"][0] for p in parts]
    assert [(h.parts, h.number) for h in headers] == [(2, 1), (2, 2)]
    assert headers[0].reference == headers[1].reference


def test_direct_routing_shows_cmt_in_both_modes() -> None:
    m = SmsModule()
    assert m.at("AT+CNMI=2,2,0,0,0") == OK
    out = m.deliver("direct").decode()
    head, pdu = out.split("\r\n")[1:3]
    assert head == f"+CMT: ,{len(pdu) // 2 - 9}"
    assert decodeSmsPdu(pdu)["text"] == "direct"
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",0,50,"SM",0,50,"SM",0,50')  # not stored
    assert m.at("AT+CMGF=1") == OK
    assert m.deliver("direct text") == (
        f'\r\n+CMT: "{SENDER}",,"23/11/14,22:13:25+00"\r\ndirect text\r\n'.encode()
    )
    assert m.at("AT+CSDH=1") == OK
    assert (
        m.deliver("with header")
        == (
            f'\r\n+CMT: "{SENDER}",,"23/11/14,22:13:25+00",145,4,0,0,"+8613800100500",145,11\r\n'
            "with header\r\n"
        ).encode()
    )
    received = [e for e in m.events() if isinstance(e, SmsReceived)]
    assert all(e.direct and e.storage is None for e in received)


def test_cnmi_mode_0_buffers_indications_until_asked() -> None:
    m = SmsModule()
    assert m.at("AT+CNMI=0,1,0,0,0") == OK
    assert m.deliver("kept") == b""
    assert m.at("AT+CNMI=2,1,0,0,0") == OK + b'\r\n+CMTI: "SM",0\r\n'
    assert m.at("AT+CNMI=0,1,0,0,0") == OK
    assert m.deliver("dropped") == b""
    assert m.at("AT+CNMI=2,1,0,0,1") == OK  # <bfr> 1 clears the buffer
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",2,50,"SM",2,50,"SM",2,50')
    assert m.at("AT+CNMI=2,0,0,0,0") == OK
    assert m.deliver("silent") == b""  # <mt> 0: stored, no indication


def test_write_and_send_from_storage_text_mode() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGW="+8613700001111"') == b"\r\n> "
    assert m.send(b"stored text\x1a") == info("+CMGW: 0")
    assert m.at("AT+CMGW") == b"\r\n> "  # no address yet
    assert m.send(b"draft\x1a") == info("+CMGW: 1")
    assert m.at('AT+CMGW="10086",129,"STO SENT"') == b"\r\n> "
    assert m.send(b"was sent\x1a") == info("+CMGW: 2")
    assert m.at('AT+CMGW="10086",129,"REC READ"') == CME50
    assert m.at("AT+CMGR=0") == info('+CMGR: "STO UNSENT","+8613700001111",', "stored text")
    assert m.at('AT+CMGL="STO SENT"') == info('+CMGL: 2,"STO SENT","10086",,', "was sent")
    assert m.at("AT+CMSS=0") == b""
    m.advance(1.0)
    assert m.take() == info("+CMSS: 0")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert (sent.destination, sent.text) == ("+8613700001111", "stored text")
    assert m.at('AT+CMGL="STO SENT"') == info(
        '+CMGL: 0,"STO SENT","+8613700001111",,',
        "stored text",
        '+CMGL: 2,"STO SENT","10086",,',
        "was sent",
    )
    assert m.at("AT+CMSS=1") == cms(305)  # no destination stored
    assert m.at('AT+CMSS=1,"10010"') == b""
    m.advance(1.0)
    assert m.take() == info("+CMSS: 1")
    assert m.at("AT+CMSS=7") == cms(321)
    assert m.at("AT+CSDH=1") == OK
    assert m.at("AT+CMGR=1") == info('+CMGR: "STO SENT","",,129,17,0,0,167,"",129,5', "draft")
    m.deliver("received")
    assert m.at("AT+CMSS=3") == cms(302)  # a received message is not sent again


def test_write_pdu_mode_and_status_checks() -> None:
    m = SmsModule()
    (pdu,) = encodeSmsSubmitPdu("10086", "pdu draft", reference=0)
    text = str(pdu).encode()
    assert m.at(f"AT+CMGW={pdu.tpduLength}") == b"\r\n> "
    assert m.send(text + b"\x1a") == info("+CMGW: 0")
    assert m.at(f"AT+CMGW={pdu.tpduLength},1") == b"\r\n> "
    assert m.send(text + b"\x1a") == cms(304)  # REC status with an SMS-SUBMIT
    assert m.at(f"AT+CMGW={pdu.tpduLength},4") == CME50
    answer = m.at("AT+CMGR=0").decode().split("\r\n")
    assert answer[1] == f"+CMGR: 2,,{pdu.tpduLength}"
    assert decodeSmsPdu(answer[2])["text"] == "pdu draft"
    assert m.at("AT+CMSS=0") == b""
    m.advance(1.0)
    assert m.take() == info("+CMSS: 0")
    assert m.at("AT+CMGL=3") == info(f"+CMGL: 0,3,,{pdu.tpduLength}", answer[2])


def test_delete_flags() -> None:
    m = SmsModule()
    for text in ("a", "b", "c"):
        m.deliver(text)
    assert m.at("AT+CMGR=0") != OK  # read: REC READ
    assert m.at("AT+CMGF=1") == OK
    for status in ("STO UNSENT", "STO SENT"):
        assert m.at(f'AT+CMGW="10086",129,"{status}"') == b"\r\n> "
        m.send(b"x\x1a")
    m.take()
    # 0 REC READ, 1-2 REC UNREAD, 3 STO UNSENT, 4 STO SENT
    assert m.at("AT+CMGD=0,1") == OK
    assert m.at("AT+CMGD=?") == info("+CMGD: (1,2,3,4),(0-4)")
    assert m.at("AT+CMGD=0,2") == OK
    assert m.at("AT+CMGD=?") == info("+CMGD: (1,2,3),(0-4)")
    assert m.at("AT+CMGD=0,3") == OK
    assert m.at("AT+CMGD=?") == info("+CMGD: (1,2),(0-4)")
    assert m.at("AT+CMGD=1") == OK
    assert m.at("AT+CMGD=?") == info("+CMGD: (2),(0-4)")
    assert m.at("AT+CMGD=0,4") == OK
    assert m.at("AT+CMGD=?") == info("+CMGD: (),(0-4)")


def test_full_storage() -> None:
    m = SmsModule(storages={"SM": 2, "ME": 3})
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",0,2,"SM",0,2,"SM",0,2')
    assert m.deliver("one") == b'\r\n+CMTI: "SM",0\r\n'
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CMGW="10086"') == b"\r\n> "
    assert m.send(b"two\x1a") == info("+CMGW: 1")
    assert m.at('AT+CMGW="10086"') == b"\r\n> "
    assert m.send(b"three\x1a") == cms(322)
    assert m.deliver("lost") == b'\r\n+QIND: "smsfull","SM"\r\n'
    received = [e for e in m.events() if isinstance(e, SmsReceived)]
    assert received[-1].rejected == "SM is full"
    assert m.at("AT+CMGR=2") == cms(321)
    assert m.at("AT+CMGD=0") == OK
    assert m.deliver("room again") == b'\r\n+CMTI: "SM",0\r\n'


def test_ucs2_charset_text_mode() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CSCS="UCS2"') == OK
    assert m.at("AT+CSMP=17,167,0,8") == OK
    number = "10086".encode("utf-16-be").hex().upper()
    body = "你好".encode("utf-16-be").hex().upper().encode()
    assert m.send_message(f'AT+CMGS="{number}"', body + b"\x1a") == info("+CMGS: 0")
    (sent,) = [e for e in m.events() if isinstance(e, SmsSent)]
    assert (sent.destination, sent.text, sent.alphabet) == ("10086", "你好", "ucs2")
    assert m.send_message(f'AT+CMGS="{number}"', b"4F6\x1a") == cms(305)  # not 4 hex digits
    assert m.at('AT+CMGS="10086"') == cms(305)  # the address is not UCS2 hex
    m.deliver("héllo")  # not in the GSM alphabet: UCS2 from the network
    lines = m.at("AT+CMGR=0").decode("latin-1").split("\r\n")
    assert lines[2] == "héllo".encode("utf-16-be").hex().upper()
    assert lines[1].startswith('+CMGR: "REC UNREAD","002B0038')


def test_gsm_and_ira_charsets_show_the_same_text_differently() -> None:
    m = SmsModule()
    assert m.at("AT+CMGF=1") == OK
    m.deliver("a@b €")
    # GSM: '@' is 0x00 and '€' ESC 0x65 in the default alphabet (23.038 §6.2.1).
    assert m.at("AT+CMGR=0").split(b"\r\n")[2] == b"a\x00b \x1be"
    assert m.at('AT+CSCS="IRA"') == OK
    assert m.at("AT+CMGR=0").split(b"\r\n")[2] == b"a@b ?"
    assert m.send_message('AT+CMGS="10086"', b"caf\xe9\x1a") == cms(305)  # not IRA
    assert m.send_message('AT+CMGS="10086"', b"`back`\x1a") == cms(305)  # not in GSM 7-bit


def test_messages_survive_a_reboot_settings_do_not() -> None:
    nv = MemoryNvStore()
    m = SmsModule(nv=nv)
    assert m.at("AT+CMGF=1") == OK
    assert m.at('AT+CSCA="+8613800999999"') == OK
    assert m.at('AT+CPMS="ME","ME","ME"') == info("+CPMS: 0,255,0,255,0,255")
    assert m.deliver("keep me") == b'\r\n+CMTI: "ME",0\r\n'
    assert m.send_message('AT+CMGS="10086"', b"x\x1a") == info("+CMGS: 0")
    assert m.at("AT+CFUN=1,1") == OK
    m.advance(5.0)
    m.take()
    assert m.at("ATE0") == b"ATE0\r" + OK  # the engine's echo came back too
    assert m.at("AT+CMGF?") == info("+CMGF: 0")
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",0,50,"SM",0,50,"SM",0,50')
    assert m.at("AT+CSCA?") == info('+CSCA: "+8613800999999",145')
    assert m.at('AT+CPMS="ME"') == info("+CPMS: 1,255,0,50,0,50")
    assert m.at("AT+CMGF=1") == OK
    assert m.at("AT+CMGL") == info(
        f'+CMGL: 0,"REC UNREAD","{SENDER}",,"23/11/14,22:13:25+00"', "keep me"
    )
    assert m.send_message('AT+CMGS="10086"', b"y\x1a") == info("+CMGS: 1")  # the counter too
    # A second module on the same NV (a restarted emulator) sees the same storage.
    again = SmsModule(nv=nv)
    assert again.at('AT+CPMS="ME"') == info("+CPMS: 1,255,0,50,0,50")


def test_network_refuses_delivery_it_cannot_make() -> None:
    m = SmsModule()
    with pytest.raises(NotDeliverable, match="not a phone number"):
        sms_state(m.module).deliver_text("Bank", "hi", m.now)
    m.module.set_coverage(False, m.now)
    with pytest.raises(NotDeliverable, match="not registered"):
        sms_state(m.module).deliver_text(SENDER, "hi", m.now)


def test_a_factory_reset_empties_the_storage() -> None:
    m = SmsModule()
    assert m.deliver("gone after a factory reset") == b'\r\n+CMTI: "SM",0\r\n'
    assert m.at('AT+CSCA="+8613800999999"') == OK
    m.module.reboot(m.now, RebootCause.CONTROL, detail="test", factory_reset=True)
    m.advance(5.0)
    m.take()
    assert m.at("ATE0") == b"ATE0\r" + OK
    assert m.at("AT+CPMS?") == info('+CPMS: "SM",0,50,"SM",0,50,"SM",0,50')
    assert m.at("AT+CSCA?") == info('+CSCA: "+8613800100500",145')
