"""RFC 6690 link format: Register payloads, Discover answers, the strict parser, and what a
real lwm2m-node-lib client puts on the wire."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from aiocoap import Message

from emulator.lwm2m import (
    ContentFormat,
    Link,
    LinkFormatError,
    LwM2MPath,
    build_register_payload,
    format_links,
    parse_links,
    parse_register_payload,
)

PEER_SCRIPT = Path(__file__).parent / "peers" / "node_register.js"
NODE_LIB = Path(__file__).parents[1] / "peers" / "node_modules" / "lwm2m-node-lib"


def test_register_payload() -> None:
    payload = build_register_payload({0: [0, 1], 1: [0], 3: [0], 4: [0], 5: [], 11: [2, 0]})
    assert payload == '</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</4/0>,</5>,</11/0>,</11/2>'


def test_register_payload_options() -> None:
    assert build_register_payload({1: [0], 3: [0]}, content_format=None) == "</1/0>,</3/0>"
    assert (
        build_register_payload(
            {1: [0], 3: [0]},
            content_format=ContentFormat.SENML_JSON,
            versions={1: "1.1"},
            alternate_path="/lwm2m",
        )
        == '</lwm2m>;rt="oma.lwm2m";ct=110,</lwm2m/1>;ver=1.1,</lwm2m/1/0>,</lwm2m/3/0>'
    )
    with pytest.raises(ValueError, match="alternate path"):
        build_register_payload({}, alternate_path="lwm2m")


def test_register_payload_round_trip() -> None:
    text = build_register_payload({1: [0], 3: [0], 5: []}, versions={3: "1.1"})
    parsed = parse_register_payload(text)
    assert parsed.alternate_path == "/"
    assert parsed.content_format == 11542
    assert parsed.objects == {1: (0,), 3: (0,), 5: ()}
    assert parsed.versions == {3: "1.1"}


def test_register_payload_with_alternate_path_and_ct_list() -> None:
    parsed = parse_register_payload(
        b'</lwm2m>;rt="oma.lwm2m";ct="110 11542",</lwm2m/1/0>,\n </lwm2m/3/0>,'
    )
    assert parsed.alternate_path == "/lwm2m"
    assert parsed.content_format == 110
    assert parsed.objects == {1: (0,), 3: (0,)}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("</3/0/1>", "not an object or object instance"),
        ("</x>", "not an LwM2M path"),
        ('</lwm2m>;rt="oma.lwm2m",</3/0>', "outside the alternate path"),
        ('</>;rt="oma.lwm2m";ct=abc', "not a content format"),
    ],
)
def test_register_payload_refusals(payload: str, reason: str) -> None:
    with pytest.raises(LinkFormatError, match=reason):
        parse_register_payload(payload)


def test_discover_style_links_and_quoting() -> None:
    links = [
        Link("/3/0", {"pmin": "10", "pmax": "60"}),
        Link("/3/0/1"),
        Link("/3/0/7", {"dim": "2"}),
        Link("/", {"rt": "oma.lwm2m", "title": 'say "hi", ok'}),
        Link("/x", {"obs": None}),
    ]
    text = format_links(links)
    assert text == (
        "</3/0>;pmin=10;pmax=60,</3/0/1>,</3/0/7>;dim=2,"
        '</>;rt="oma.lwm2m";title="say \\"hi\\", ok",</x>;obs'
    )
    assert parse_links(text) == links
    assert parse_links(text.encode()) == links
    assert links[0].path == LwM2MPath(3, 0)
    assert links[3].path is None


def test_parse_links_tolerates_spacing_and_trailing_comma() -> None:
    assert parse_links("") == []
    assert parse_links(" </1/0> ,\r\n</3/0>;ct=11542 ,") == [
        Link("/1/0"),
        Link("/3/0", {"ct": "11542"}),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("<", "without matching"),
        ("</3/0", "without matching"),
        ("</3/0>;", "empty parameter name"),
        ("</3/0>;pmin=", "empty value"),
        ('</3/0>;rt="x', "unterminated"),
        ("</3/0>x", "expected ','"),
        ("</3/0>,,</1/0>", "starts with '<'"),
        ("3/0", "starts with '<'"),
        ("<>", "invalid link target"),
        ("</a b>", "invalid link target"),
        (b"\xff", "UTF-8"),
        ("</3>" * 20000, "too large"),
    ],
)
def test_parse_links_refusals(payload: str | bytes, reason: str) -> None:
    with pytest.raises(LinkFormatError, match=reason) as caught:
        parse_links(payload)
    assert caught.value.code_text == "4.00"


@pytest.mark.skipif(
    shutil.which("node") is None or not NODE_LIB.is_dir(),
    reason="node or lwm2m-node-lib is not installed (make setup)",
)
def test_register_sent_by_lwm2m_node_lib_client_parses() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(15)
        port = server.getsockname()[1]
        peer = subprocess.Popen(
            ["node", str(PEER_SCRIPT), str(port), "/3/0", "/1/0", "/5/0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            datagram, _ = server.recvfrom(4096)
        finally:
            peer.kill()
            peer.wait(timeout=10)
    request = Message.decode(datagram)
    assert request.opt.uri_path == ("rd",)
    assert "ep=node-ep" in request.opt.uri_query
    parsed = parse_register_payload(request.payload)
    assert parsed.objects == {1: (0,), 3: (0,), 5: (0,)}
    assert parsed.content_format is None  # this client sends no root link
    assert parsed.alternate_path == "/"
