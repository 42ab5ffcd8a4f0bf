"""The host-side AT session with data: a payload sent at ``> `` or ``CONNECT``, and raw data
read after ``CONNECT`` (AT+QHTTPREAD), byte by byte as the module sends them."""

from __future__ import annotations

from client_api.at_session import AtSession, CommandCompleted, UrcReceived


def feed_bytewise(session: AtSession, data: bytes) -> None:
    for i in range(len(data)):
        session.receive_data(data[i : i + 1], 1.0)


def test_payload_goes_out_at_the_prompt_only() -> None:
    session = AtSession(echo_expected=False)
    wire = session.send_command('AT+QMTPUB=0,0,0,0,"t",3', 0.0, 5.0, payload=b"a\rb")
    assert wire == b'AT+QMTPUB=0,0,0,0,"t",3\r'
    assert session.data_to_send() == b""
    feed_bytewise(session, b"\r\n> ")
    assert session.data_to_send() == b"a\rb"
    feed_bytewise(session, b"\r\nOK\r\n\r\n+QMTPUB: 0,0,0\r\n")
    done = session.next_event()
    assert isinstance(done, CommandCompleted) and done.final == "OK"
    urc = session.next_event()
    assert isinstance(urc, UrcReceived) and urc.line == "+QMTPUB: 0,0,0"


def test_payload_after_connect_with_echo() -> None:
    session = AtSession(echo_expected=True)
    session.send_command("AT+QHTTPURL=5,60", 0.0, 5.0, payload=b"http:")
    feed_bytewise(session, b"AT+QHTTPURL=5,60\r\r\nCONNECT\r\n")
    assert session.data_to_send() == b"http:"
    feed_bytewise(session, b"\r\nOK\r\n")
    done = session.next_event()
    assert isinstance(done, CommandCompleted) and done.final == "OK"


def test_raw_data_after_connect_is_kept_whole() -> None:
    body = b"line1\r\nOK\r\n\x00\xff"  # looks like a final result code: it is data
    session = AtSession(echo_expected=False)
    session.send_command(
        "AT+QHTTPREAD=60", 0.0, 5.0, raw_end=lambda raw: len(body) if raw else None
    )
    feed_bytewise(session, b"\r\nCONNECT\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n")
    done = session.next_event()
    assert isinstance(done, CommandCompleted)
    assert (done.final, done.data, done.lines) == ("OK", body, ())
    urc = session.next_event()
    assert isinstance(urc, UrcReceived) and urc.line == "+QHTTPREAD: 0"
