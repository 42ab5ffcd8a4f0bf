"""Short message service commands, text and PDU mode (3GPP TS 27.005 §3, Quectel's AT manuals):
AT+CMGF, AT+CSCS (27.007 §5.5), AT+CSCA, AT+CSMP, AT+CSDH, AT+CPMS, AT+CNMI, AT+CMGS, AT+CMGW,
AT+CMSS, AT+CMGR, AT+CMGL, AT+CMGD.

The state is the module's :class:`emulator.sms.model.SmsState`. Parameter counts, types and
ranges are refused like every other command of the emulator (``+CME ERROR: 50``); what
27.005 §3.2.5 lists as message service failures (no SIM, no network, invalid memory index,
memory full, unknown SMSC, an invalid PDU or text) is ``+CMS ERROR: <err>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from emulator.at.errors import AtError, IncorrectParameters
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, DataInput, Response
from emulator.commands.context import CommandContext
from emulator.sms import charset
from emulator.sms.model import (
    ALL_STATUS,
    InvalidIndex,
    InvalidPdu,
    InvalidText,
    OperationNotAllowed,
    SmsState,
    Status,
    StoredMessage,
    body_length,
    check_alphabet,
    pdu_text,
    sms_state,
)
from emulator.sms.pdu import (
    MAX_SEPTETS,
    MAX_USER_DATA,
    TOA_UNKNOWN,
    Address,
    Alphabet,
    PduError,
    SmsDeliver,
    SmsSubmit,
    UserData,
    decode_tpdu,
    gsm7_septets,
    read_sca,
)

MAX_TPDU = 164  # octets of an SMS-SUBMIT/DELIVER TPDU (23.040 §9.2.2: 140 of user data + header)
MAX_ADDRESS = 20  # digits of a TP-DA (23.040 §9.1.2.5)
TEXT_STATUS = {s.text: s for s in Status}
TEXT_STATUS_ALL = "ALL"


def _state(ctx: CommandContext) -> SmsState:
    return sms_state(ctx.module)


def _memory_access(state: SmsState, name: str) -> None:
    """Messages on the SIM need the SIM (27.005 §3.2.5: 310, 311)."""
    if name == "SM":
        state.require_sim()


def _address(state: SmsState, args: Args, index: int, toa_index: int) -> Address:
    """<da>/<oa> in the TE character set and its optional type of address."""
    text = args.str(index, max_len=4 * MAX_ADDRESS + 4)
    try:
        number = charset.address_from_te(text, state.settings.charset)
    except charset.CharsetError as exc:
        raise InvalidText(f"address: {exc}") from None
    toa = args.int(toa_index, 128, 255, default=0) if args.present(toa_index) else None
    try:
        return Address.parse(number, toa or None)
    except PduError as exc:
        raise InvalidText(str(exc)) from None


# ----------------------------------------------------------------------------- settings
def cmgf_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CMGF: {int(_state(ctx).settings.text_mode)}"]


def cmgf_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _state(ctx).settings.text_mode = args.int(0, 0, 1, default=0) == 1


def cmgf_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CMGF: (0,1)"]


def cscs_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f'+CSCS: "{_state(ctx).settings.charset}"']


def cscs_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    name = args.str(0, max_len=8, choices=charset.CHARSETS, case_insensitive=True)
    _state(ctx).settings.charset = name


def cscs_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CSCS: (" + ",".join(f'"{c}"' for c in charset.CHARSETS) + ")"]


def csca_read(ctx: CommandContext, args: Args) -> list[str]:
    state = _state(ctx)
    state.require_sim()
    sca = state.smsc
    if sca is None:
        return [f'+CSCA: "",{TOA_UNKNOWN}']
    return [f'+CSCA: "{state.te(sca.number)}",{sca.toa}']


def csca_write(ctx: CommandContext, args: Args) -> None:
    """The SMSC address lives on the SIM (27.005 §3.3.1): it survives a reboot."""
    args.count(1, 2)
    state = _state(ctx)
    address = _address(state, args, 0, 1)
    state.require_sim()
    state.smsc = address
    state.save()


def csmp_read(ctx: CommandContext, args: Args) -> list[str]:
    s = _state(ctx).settings
    return [f"+CSMP: {s.fo},{s.vp},{s.pid},{s.dcs}"]


def csmp_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CSMP=<fo>[,<vp>[,<pid>[,<dcs>]]]`` (27.005 §3.3.2). Relative validity only:
    a <fo> with TP-VPF absolute or enhanced would need a time string for <vp>."""
    args.count(1, 4)
    s = _state(ctx).settings
    fo = args.int(0, 0, 255)
    if fo & 0x03 != 0x01:
        raise IncorrectParameters("<fo> must be an SMS-SUBMIT first octet (TP-MTI 01)")
    if (fo >> 3) & 0x03 in (1, 3):
        raise IncorrectParameters("only a relative <vp> (TP-VPF 10) or none is supported")
    vp = args.int(1, 0, 255, default=s.vp)
    pid = args.int(2, 0, 255, default=s.pid)
    dcs = args.int(3, 0, 255, default=s.dcs)
    check_alphabet(dcs)
    s.fo, s.vp, s.pid, s.dcs = fo, vp, pid, dcs


def csdh_read(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+CSDH: {int(_state(ctx).settings.show_header)}"]


def csdh_write(ctx: CommandContext, args: Args) -> None:
    args.count(1)
    _state(ctx).settings.show_header = args.int(0, 0, 1, default=0) == 1


def csdh_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CSDH: (0,1)"]


def cpms_test(ctx: CommandContext, args: Args) -> list[str]:
    names = "(" + ",".join(f'"{n}"' for n in _state(ctx).memories) + ")"
    return [f"+CPMS: {names},{names},{names}"]


def cpms_read(ctx: CommandContext, args: Args) -> list[str]:
    state = _state(ctx)
    s = state.settings
    parts = []
    for name in (s.mem1, s.mem2, s.mem3):
        _memory_access(state, name)
        memory = state.memory(name)
        parts.append(f'"{name}",{memory.used},{memory.capacity}')
    return ["+CPMS: " + ",".join(parts)]


def cpms_write(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+CPMS=<mem1>[,<mem2>[,<mem3>]]`` → used and total of each (27.005 §3.2.2)."""
    count = args.count(1, 3)
    state = _state(ctx)
    s = state.settings
    chosen = []
    for index in range(count):
        name = args.str(index, max_len=4).upper()
        if name not in state.memories:
            raise OperationNotAllowed(f"storage {name!r} is not one of {list(state.memories)}")
        _memory_access(state, name)
        chosen.append(name)
    s.mem1 = chosen[0]
    if count >= 2:
        s.mem2 = chosen[1]
    if count == 3:
        s.mem3 = chosen[2]
    parts = []
    for name in (s.mem1, s.mem2, s.mem3):
        memory = state.memory(name)
        parts.append(f"{memory.used},{memory.capacity}")
    return ["+CPMS: " + ",".join(parts)]


def cnmi_read(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CNMI: " + ",".join(str(v) for v in _state(ctx).settings.cnmi)]


CNMI_RANGES = ((0, 2, None), (0, 3, None), (0, 2, (0, 2)), (0, 2, None), (0, 1, None))


def cnmi_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CNMI=<mode>[,<mt>[,<bm>[,<ds>[,<bfr>]]]]`` (27.005 §3.4.1); omitted values keep
    their setting. <mt> 1 stores and indicates (+CMTI), 2 shows the message (+CMT)."""
    count = args.count(1, 5)
    state = _state(ctx)
    current = state.settings.cnmi
    values = [
        args.int(i, lo, hi, default=current[i], allowed=allowed) if i < count else current[i]
        for i, (lo, hi, allowed) in enumerate(CNMI_RANGES)
    ]
    state.settings.cnmi = (values[0], values[1], values[2], values[3], values[4])
    state.routing_changed(ctx.now)


def cnmi_test(ctx: CommandContext, args: Args) -> list[str]:
    return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]


def empty(ctx: CommandContext, args: Args) -> None:
    """Test form of a command with nothing to list: OK."""


# ----------------------------------------------------------------------------- composing
PROMPT = b"\r\n> "  # 27.005 §3.5.1: <CR><LF><greater_than><space>
PayloadHandler = Callable[[bytes, float], Response]


def _prompt(state: SmsState, on_payload: PayloadHandler) -> Response:
    """Ask for the message after ``> ``: Ctrl-Z ends it, ESC cancels with OK. More than the
    profile's ``prompt_max_bytes`` is refused as a whole (+CMS ERROR 305 or 304) once
    Ctrl-Z comes; the engine keeps no more than that (plus one byte)."""
    limit = state.config.prompt_max_bytes
    overflow: AtError = (
        InvalidText("the message text is too long")
        if state.settings.text_mode
        else InvalidPdu("the PDU is too long")
    )

    def on_data(payload: bytes, now: float) -> Response:
        if len(payload) > limit:
            raise overflow
        return on_payload(payload, now)

    return Response(
        final=None,
        data_input=DataInput(
            prompt=PROMPT,
            length=None,
            on_data=on_data,
            max_length=limit,
            echo=True,
            line_prompts=state.settings.text_mode,
        ),
    )


def _text_submit(state: SmsState, payload: bytes, destination: Address) -> SmsSubmit:
    """A text-mode message body and the AT+CSMP parameters as an SMS-SUBMIT."""
    s = state.settings
    alphabet = check_alphabet(s.dcs)
    try:
        if alphabet is Alphabet.GSM7:
            text = charset.from_te(payload, s.charset)
            if gsm7_septets(text) > MAX_SEPTETS:
                raise InvalidText(f"the text is over {MAX_SEPTETS} characters")
            user_data = UserData(alphabet, text=text)
        else:
            octets = charset.from_hex(payload.decode("latin-1"))
            if len(octets) > MAX_USER_DATA:
                raise InvalidText(f"the data is over {MAX_USER_DATA} octets")
            if alphabet is Alphabet.UCS2:
                user_data = UserData(alphabet, text=charset.from_hex_ucs2(octets.hex()))
            else:
                user_data = UserData(alphabet, data=octets)
    except (charset.CharsetError, PduError) as exc:
        raise InvalidText(str(exc)) from None
    vpf = (s.fo >> 3) & 0x03
    return SmsSubmit(
        reference=0,
        destination=destination,
        user_data=user_data,
        pid=s.pid,
        dcs=s.dcs,
        validity_format=vpf,
        validity=bytes([s.vp]) if vpf == 2 else b"",
        status_report_request=bool(s.fo & 0x20),
        reject_duplicates=bool(s.fo & 0x04),
        reply_path=bool(s.fo & 0x80),
    )


def _pdu_payload(payload: bytes, length: int) -> tuple[Address | None, bytes]:
    """27.005 §3.1 <pdu>: hex, SMSC address first (``00``: the AT+CSCA one), then a TPDU
    of exactly <length> octets."""
    text = bytes(b for b in payload if b not in b"\r\n \t").decode("latin-1")
    try:
        raw = charset.from_hex(text)
        sca, size = read_sca(raw)
    except (charset.CharsetError, PduError) as exc:
        raise InvalidPdu(str(exc)) from None
    tpdu = raw[size:]
    if len(tpdu) != length:
        raise InvalidPdu(f"<length> {length} but the TPDU has {len(tpdu)} octets")
    return sca, tpdu


def _decoded(tpdu: bytes) -> SmsDeliver | SmsSubmit:
    try:
        return decode_tpdu(tpdu)
    except PduError as exc:
        raise InvalidPdu(str(exc)) from None


def cmgs_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+CMGS=<da>[,<toda>]`` (text) or ``AT+CMGS=<length>`` (PDU), then the message
    after ``> ``; Ctrl-Z sends, ESC cancels (27.005 §3.5.1). Answers ``+CMGS: <mr>``."""
    state = _state(ctx)
    state.require_sim()
    if state.settings.text_mode:
        args.count(1, 2)
        destination = _address(state, args, 0, 1)

        def send_text(payload: bytes, now: float) -> Response:
            submit = _text_submit(state, payload, destination)
            reference = state.send(submit, None, now)
            return Response(lines=[f"+CMGS: {reference}"], delay=state.config.send_delay)

        return _prompt(state, send_text)
    args.count(1)
    length = args.int(0, 7, MAX_TPDU)

    def send_pdu(payload: bytes, now: float) -> Response:
        sca, tpdu = _pdu_payload(payload, length)
        submit = _decoded(tpdu)
        if not isinstance(submit, SmsSubmit):
            raise InvalidPdu("AT+CMGS sends an SMS-SUBMIT (TP-MTI 01)")
        reference = state.send(submit, sca, now)
        return Response(lines=[f"+CMGS: {reference}"], delay=state.config.send_delay)

    return _prompt(state, send_pdu)


def cmgw(ctx: CommandContext, args: Args) -> Response:
    """``AT+CMGW[=<da>[,<toda>[,<stat>]]]`` (text) or ``AT+CMGW=<length>[,<stat>]`` (PDU):
    store a message in <mem2> (27.005 §3.5.3). Answers ``+CMGW: <index>``."""
    state = _state(ctx)
    mem2 = state.settings.mem2
    _memory_access(state, mem2)
    if state.settings.text_mode:
        args.count(0, 3)
        destination = _address(state, args, 0, 1) if args.present(0) else Address("", TOA_UNKNOWN)
        status_text = args.str(
            2, max_len=12, default="STO UNSENT", choices=("STO UNSENT", "STO SENT")
        )
        status = TEXT_STATUS[status_text]

        def write_text(payload: bytes, now: float) -> Response:
            submit = _text_submit(state, payload, destination)
            index = state.store(mem2, StoredMessage(status, submit.encode(), None))
            return Response(lines=[f"+CMGW: {index}"])

        return _prompt(state, write_text)
    args.count(1, 2)
    length = args.int(0, 7, MAX_TPDU)
    pdu_status = Status(args.int(1, 0, 3, default=int(Status.STO_UNSENT)))

    def write_pdu(payload: bytes, now: float) -> Response:
        sca, tpdu = _pdu_payload(payload, length)
        message = _decoded(tpdu)
        received = pdu_status in (Status.REC_UNREAD, Status.REC_READ)
        if received != isinstance(message, SmsDeliver):
            raise InvalidPdu("<stat> REC goes with an SMS-DELIVER, STO with an SMS-SUBMIT")
        index = state.store(mem2, StoredMessage(pdu_status, tpdu, sca))
        return Response(lines=[f"+CMGW: {index}"])

    return _prompt(state, write_pdu)


def cmss_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+CMSS=<index>[,<da>[,<toda>]]``: send a stored message (27.005 §3.5.2)."""
    args.count(1, 3)
    state = _state(ctx)
    mem2 = state.settings.mem2
    _memory_access(state, mem2)
    index = args.int(0, 0, 65535)
    destination = _address(state, args, 1, 2) if args.present(1) else None
    message = state.read(mem2, index, mark_read=False)
    if message is None:
        raise InvalidIndex(f"no message at {mem2} {index}")
    submit = message.decoded()
    if not isinstance(submit, SmsSubmit):
        raise OperationNotAllowed("a received message cannot be sent")
    if destination is not None:
        submit = replace(submit, destination=destination)
    if not submit.destination.digits:
        raise InvalidText("the stored message has no destination address")
    reference = state.send(submit, message.sca, ctx.now)
    if message.status is Status.STO_UNSENT:
        message.status = Status.STO_SENT
        state.save()
    return Response(lines=[f"+CMSS: {reference}"], delay=state.config.send_delay)


# ----------------------------------------------------------------------------- reading
def _text_header(state: SmsState, message: StoredMessage) -> tuple[str, str]:
    """(fields after <stat> of +CMGR, the data line) in text mode (27.005 §3.4.3)."""
    decoded = message.decoded()
    ud = decoded.user_data
    body = state.body_text(ud, decoded.dcs)
    if isinstance(decoded, SmsDeliver):
        fields = f'"{state.te(decoded.originator.number)}",,"{decoded.timestamp.text()}"'
        if state.settings.show_header:
            fields += "," + ",".join(state.deliver_details(message, decoded))
        return fields, body
    fields = f'"{state.te(decoded.destination.number)}",'
    if state.settings.show_header:
        sca = message.sca
        vp = str(decoded.validity[0]) if decoded.validity_format == 2 else ""
        fields += "," + ",".join(
            [
                str(decoded.destination.toa),
                str(decoded.first_octet),
                str(decoded.pid),
                str(decoded.dcs),
                vp,
                f'"{state.te(sca.number) if sca else ""}"',
                str(sca.toa if sca else TOA_UNKNOWN),
                str(body_length(ud)),
            ]
        )
    return fields, body


def cmgr_write(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+CMGR=<index>`` from <mem1>; an unread message becomes read (27.005 §3.4.3).
    An empty location answers OK alone, as Quectel's modules do."""
    args.count(1)
    state = _state(ctx)
    mem1 = state.settings.mem1
    _memory_access(state, mem1)
    index = args.int(0, 0, 65535)
    before = state.read(mem1, index, mark_read=False)
    if before is None:
        state.memory(mem1).check_index(index)
        return []
    status = before.status
    state.read(mem1, index)
    if state.settings.text_mode:
        fields, body = _text_header(state, before)
        return [f'+CMGR: "{status.text}",{fields}', body]
    return [f"+CMGR: {int(status)},,{len(before.tpdu)}", pdu_text(before)]


def _list_status(state: SmsState, args: Args) -> int:
    if state.settings.text_mode:
        choices = (*TEXT_STATUS, TEXT_STATUS_ALL)
        name = args.str(0, max_len=12, default="REC UNREAD", choices=choices)
        return ALL_STATUS if name == TEXT_STATUS_ALL else int(TEXT_STATUS[name])
    return args.int(0, 0, 4, default=0)


def cmgl(ctx: CommandContext, args: Args) -> list[str]:
    """``AT+CMGL[=<stat>]`` lists <mem1> (27.005 §3.4.2): text <stat> "REC UNREAD" ...
    "ALL" (default "REC UNREAD"), PDU 0-4 (default 0). Listed unread messages become read."""
    args.count(0, 1)
    state = _state(ctx)
    mem1 = state.settings.mem1
    _memory_access(state, mem1)
    status = _list_status(state, args)
    lines: list[str] = []
    for index, message in state.listing(mem1, status):
        if state.settings.text_mode:
            decoded = message.decoded()
            ud = decoded.user_data
            if isinstance(decoded, SmsDeliver):
                address, toa = decoded.originator, decoded.originator.toa
                stamp = f'"{decoded.timestamp.text()}"'
            else:
                address, toa, stamp = decoded.destination, decoded.destination.toa, ""
            head = f'+CMGL: {index},"{message.status.text}","{state.te(address.number)}",,{stamp}'
            if state.settings.show_header:
                head += f",{toa},{body_length(ud)}"
            lines += [head, state.body_text(ud, decoded.dcs)]
        else:
            head = f"+CMGL: {index},{int(message.status)},,{len(message.tpdu)}"
            lines += [head, pdu_text(message)]
    return lines


def cmgl_test(ctx: CommandContext, args: Args) -> list[str]:
    if _state(ctx).settings.text_mode:
        names = ",".join(f'"{n}"' for n in (*TEXT_STATUS, TEXT_STATUS_ALL))
        return [f"+CMGL: ({names})"]
    return ["+CMGL: (0-4)"]


def cmgd_write(ctx: CommandContext, args: Args) -> None:
    """``AT+CMGD=<index>[,<delflag>]`` (27.005 §3.5.4); a <delflag> over 0 ignores <index>."""
    args.count(1, 2)
    state = _state(ctx)
    mem1 = state.settings.mem1
    _memory_access(state, mem1)
    index = args.int(0, 0, 65535)
    flag = args.int(1, 0, 4, default=0)
    state.delete(mem1, index, flag)


def cmgd_test(ctx: CommandContext, args: Args) -> list[str]:
    state = _state(ctx)
    mem1 = state.settings.mem1
    _memory_access(state, mem1)
    used = ",".join(str(i) for i in sorted(state.memory(mem1).messages))
    return [f"+CMGD: ({used}),(0-4)"]


def register(registry: CommandRegistry) -> None:
    for name, read, write, test in (
        ("+CMGF", cmgf_read, cmgf_write, cmgf_test),
        ("+CSCS", cscs_read, cscs_write, cscs_test),
        ("+CSCA", csca_read, csca_write, empty),
        ("+CSMP", csmp_read, csmp_write, empty),
        ("+CSDH", csdh_read, csdh_write, csdh_test),
        ("+CPMS", cpms_read, cpms_write, cpms_test),
        ("+CNMI", cnmi_read, cnmi_write, cnmi_test),
    ):
        registry.add(name, Form.READ, read)
        registry.add(name, Form.WRITE, write)
        registry.add(name, Form.TEST, test)
    registry.add("+CMGS", Form.WRITE, cmgs_write)
    registry.add("+CMGS", Form.TEST, empty)
    registry.add("+CMGW", Form.EXEC, cmgw)
    registry.add("+CMGW", Form.WRITE, cmgw)
    registry.add("+CMGW", Form.TEST, empty)
    registry.add("+CMSS", Form.WRITE, cmss_write)
    registry.add("+CMSS", Form.TEST, empty)
    registry.add("+CMGR", Form.WRITE, cmgr_write)
    registry.add("+CMGR", Form.TEST, empty)
    registry.add("+CMGL", Form.EXEC, cmgl)
    registry.add("+CMGL", Form.WRITE, cmgl)
    registry.add("+CMGL", Form.TEST, cmgl_test)
    registry.add("+CMGD", Form.WRITE, cmgd_write)
    registry.add("+CMGD", Form.TEST, cmgd_test)
