"""Hypothesis strategies for the fuzz tests: CoAP datagrams that are mostly almost right
(RFC 7252 §3 header, options, payload marker), AT command lines built from the module's own
command names, and fixed settings so every run tries the same examples (CI repeats them)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz(examples: int) -> settings:
    """Bounded and repeatable: ``examples`` cases, the same on every run, no example database,
    no deadline (a shared CI machine is slow at times; timings are for benchmarks/)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )

# ------------------------------------------------------------------------------------ CoAP
#: Option numbers of RFC 7252 §5.10, RFC 7641, RFC 7959, and a few unknown ones (odd =
#: critical: 4.02 Bad Option; even = elective: ignored).
OPTION_NUMBERS = (1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 35, 39, 60, 258, 2049)
URI_PATH, URI_QUERY, CONTENT_FORMAT = 11, 15, 12
#: Request codes, response codes, the Empty code, reserved classes and 7.xx signalling.
CODES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 0x1F, 0x20, 0x41, 0x42, 0x44, 0x45, 0x5F, 0x80)
CODES += (0x84, 0x88, 0xA0, 0xC0, 0xE1, 0xFF)

_segments = st.sampled_from(
    ["rd", "bs", "dp", "1", "3", "0", "4", "5", "13", "65535", "x", "", "%", "\u00e9", "7"]
).map(str.encode) | st.binary(max_size=12)
_queries = st.sampled_from(
    [
        *(b"ep=fuzz", b"lt=-1", b"lt=0", b"lt=4294967296", b"b=UU", b"lwm2m=9.9", b"ep="),
        *(b"ep=a\nb", b"pmin=-5", b"pmax=1", b"gt=x", b"ep=\xff", b"sms=", b"Q", b"b=U"),
    ]
) | st.binary(max_size=16)
_uints = st.integers(0, 2**32 - 1).map(lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big"))
_payloads = st.sampled_from(
    [
        *(b"", b"</1/0>,</3/0>", b'</>;rt="oma.lwm2m",</1/0>', b"<", b"\xc1\x01\xff"),
        *(b"\xc8\x00\xff", b"-1", b"86400", b"UU", b"x\r\nOK\r\n", b"\x00" * 8),
        b'[{"n":"/3/0/13","v":1e300}]',
    ]
) | st.binary(max_size=48)


def _option_delta(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def encode_option(delta: int, value: bytes) -> bytes:
    nibble_d, extra_d = _option_delta(delta)
    nibble_l, extra_l = _option_delta(len(value))
    return bytes([nibble_d << 4 | nibble_l]) + extra_d + extra_l + value


@st.composite
def coap_datagrams(draw: st.DrawFn) -> bytes:
    """A datagram that is CoAP, almost CoAP, or anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=64))
    version = draw(st.sampled_from((1, 1, 1, 1, 1, 0, 2)))
    mtype = draw(st.integers(0, 3))
    token = draw(st.binary(max_size=8))
    tkl = len(token) if draw(st.integers(0, 9)) else draw(st.integers(0, 15))
    code = draw(st.sampled_from(CODES) | st.integers(0, 255))
    mid = draw(st.integers(0, 0xFFFF))
    header = bytes([version << 6 | mtype << 4 | tkl, code]) + mid.to_bytes(2, "big") + token
    options: list[tuple[int, bytes]] = []
    for segment in draw(st.lists(_segments, max_size=4)):
        options.append((URI_PATH, segment))
    for query in draw(st.lists(_queries, max_size=3)):
        options.append((URI_QUERY, query))
    if draw(st.booleans()):
        options.append(
            (
                CONTENT_FORMAT,
                draw(
                    st.sampled_from([b"", b"\x28", b"\x2d\x16", b"\x2d\x17", b"\x70", b"\xff\xff"])
                ),
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        options.append(
            (draw(st.sampled_from(OPTION_NUMBERS)), draw(_uints | st.binary(max_size=10)))
        )
    options.sort(key=lambda o: o[0])
    body = b""
    previous = 0
    for number, value in options:
        body += encode_option(number - previous, value)
        previous = number
    payload = draw(_payloads)
    if payload or draw(st.integers(0, 19)) == 0:  # a marker with nothing after: an error
        body += b"\xff" + payload
    datagram = header + body
    if draw(st.integers(0, 9)) == 0:  # cut it anywhere
        datagram = datagram[: draw(st.integers(0, len(datagram)))]
    return datagram


# -------------------------------------------------------------------------------------- AT
_at_params = st.lists(
    st.sampled_from(
        [
            *('"security"', '"server"', '"maxreconntime"', '"epname"', '"startup"', '"urcport"'),
            *("0", "1", "3", "-1", "65536", "4294967296", "99999999999999999999", '""', '"x"'),
            *('"coap://127.0.0.1:5683"', '"x\r\nOK"', '"\\22"', '"a"b"', "1.5", "", "?", ",,"),
            *('"' + "A" * 300 + '"', "0x10", '"\u00e9"'),
        ]
    ),
    max_size=8,
).map(",".join)

#: Commands that end the test's conversation on purpose: power down, and the S-registers
#: that redefine the line terminator and editing characters (V.250 §6.2.1-3).
SESSION_ENDERS = ("+QPOWD", "S3=", "S4=", "S5=")


def at_lines(command_names: list[str]) -> st.SearchStrategy[bytes]:
    """One line a host might send: a known command in any form with odd parameters, or
    arbitrary text and bytes."""
    known = st.builds(
        lambda name, form, params: f"AT{name}{form.replace('P', params)}",
        st.sampled_from(sorted(command_names)),
        st.sampled_from(["", "?", "=?", "=P", "=P;+CSQ", "P"]),
        _at_params,
    ).map(lambda text: text.encode("utf-8", "replace"))
    noise = st.binary(max_size=40).map(lambda data: b"AT" + data) | st.binary(max_size=40)
    return st.one_of(known, known, known, noise).filter(
        lambda line: not any(ender.encode() in line.upper() for ender in SESSION_ENDERS)
    )


# ----------------------------------------------------------------- well-formed LwM2M requests
#: Paths of the module's objects, resources that reach the AT port, and some that do not exist.
_LWM2M_PATHS = st.sampled_from(
    [
        *("3", "3/0", "3/0/13", "3/0/4", "3/0/5", "3/0/14", "3/0/15", "3/0/0", "3/1", "1/0"),
        *("1/0/1", "1/0/2", "1/0/3", "1/0/5", "1/0/7", "1/0/8", "0/0/0", "11/0/1", "11/0/6"),
        *("5/0/1", "5/0/0", "5/0/2", "5", "4/0", "99/0/0", "3/0/65535", "1/0/1/0", "", "bs"),
        *("10250/0/1", "3/-1", "3/00", "3/0/1x"),
    ]
)
#: Content-Formats: text, opaque, TLV, JSON, SenML JSON, SenML CBOR, CBOR, link format, unknown.
_FORMATS = st.sampled_from([None, 0, 42, 11542, 11543, 110, 112, 60, 40, 1234])
_VALUES = st.sampled_from(
    [
        *(b"-1", b"0", b"150", b"4294967296", b"9223372036854775807", b"-2147483648", b"UU"),
        *(b"U", b"x\r\nOK\r\n", b"apn", b"\x96", b"\xc1\x01\x96", b"\xc8\x01\x02\x00\x96"),
        *(b"\xe1\x00\x0d\x7f\xff\xff\xff\xff\xff\xff\xff", b"\x08\x00\x03\xc1\x01\x05", b"\xff"),
        *(b'[{"bn":"/3/0/","n":"13","v":1e20}]', b'{"e":[{"n":"1","v":-1}]}', b"\xa1\x00\x01"),
        *(b"coap://127.0.0.1:1/pkg", b"\x00" * 40, b"1,2,3", b"0='a'", b""),
    ]
) | st.binary(max_size=40)


@st.composite
def lwm2m_requests(draw: st.DrawFn) -> bytes:
    """A well-formed CoAP request a LwM2M server might send (or send wrongly)."""
    from aiocoap import CON, NON, Code, Message

    method = draw(st.sampled_from([Code.GET, Code.PUT, Code.POST, Code.DELETE, Code.FETCH]))
    path = tuple(s for s in draw(_LWM2M_PATHS).split("/") if s)
    message = Message(code=method, uri_path=path)
    message.mtype = draw(st.sampled_from([CON, CON, NON]))
    message.mid = draw(st.integers(0, 0xFFFF))
    message.token = draw(st.binary(min_size=1, max_size=8))
    content_format = draw(_FORMATS)
    if method in (Code.PUT, Code.POST, Code.FETCH):
        message.payload = draw(_VALUES)
        if content_format is not None:
            message.opt.content_format = content_format
    elif draw(st.booleans()) and content_format is not None:
        message.opt.accept = content_format
    if method == Code.GET and draw(st.booleans()):
        message.opt.observe = draw(st.sampled_from([0, 1, 2, 16777215]))
    if draw(st.integers(0, 3)) == 0:
        message.opt.uri_query = draw(
            st.lists(st.sampled_from(["pmin=1", "pmax=-1", "gt=5", "lt=x", "st=0", "epmin=2"]))
        )
    if method in (Code.PUT, Code.POST) and draw(st.integers(0, 4)) == 0:
        from aiocoap.optiontypes import BlockOption

        number, more = draw(st.integers(0, 4)), draw(st.booleans())
        message.opt.block1 = BlockOption.BlockwiseTuple(number, more, draw(st.integers(0, 2)))
    return bytes(message.encode())


@st.composite
def registration_requests(draw: st.DrawFn) -> bytes:
    """A well-formed CoAP request to a LwM2M server: Register, Update, De-register,
    Bootstrap-Request, Send, with query parameters and object lists good and bad."""
    from aiocoap import CON, NON, Code, Message

    kind = draw(st.sampled_from(["register", "register", "update", "delete", "bs", "dp"]))
    if kind == "register":
        message = Message(code=Code.POST, uri_path=("rd",))
    elif kind == "update":
        message = Message(code=Code.POST, uri_path=("rd", draw(st.sampled_from(["x", "1", ""]))))
    elif kind == "delete":
        message = Message(code=Code.DELETE, uri_path=("rd", draw(st.sampled_from(["x", "1"]))))
    else:
        message = Message(code=Code.POST, uri_path=(kind,))
    message.mtype = draw(st.sampled_from([CON, CON, NON]))
    message.mid = draw(st.integers(0, 0xFFFF))
    message.token = draw(st.binary(min_size=1, max_size=8))
    endpoint = draw(st.sampled_from(["fz1", "fz2", "", "a\r\nb", "\u00e9", "x" * 300]))
    queries = [f"ep={endpoint}"] if draw(st.integers(0, 4)) else []
    queries += draw(
        st.lists(
            st.sampled_from(
                [
                    *("lt=60", "lt=-1", "lt=0", "lt=99999999999", "lwm2m=1.0", "lwm2m=1.1"),
                    *("lwm2m=2", "b=U", "b=UQ", "b=X", "sms=123", "Q", "lt=", "ep=dup"),
                ]
            ),
            max_size=3,
        )
    )
    message.opt.uri_query = queries
    message.payload = draw(
        st.sampled_from(
            [
                *(b"</1/0>,</3/0>", b'</>;rt="oma.lwm2m",</1>;ver=1.1,</3/0>', b"<", b""),
                *(b"</1/0>," * 200, b"</a/b/c/d/e>", b"</3/0>;ct=x", b"\xff\xfe"),
            ]
        )
        | st.binary(max_size=40)
    )
    if message.payload:
        message.opt.content_format = draw(st.sampled_from([40, 40, 0, 110, 11543, 999]))
    return bytes(message.encode())
