"""QuecPython ``sms``: sending, reading, deleting SMS and the new-message callback over AT.

Everything goes through 3GPP TS 27.005 PDU mode (``AT+CMGF=0``), which carries every
alphabet and concatenated parts: ``sendTextMsg`` and ``sendPduMsg`` both build SMS-SUBMIT
PDUs (23.040) and send each with ``AT+CMGS`` after the ``> `` prompt; reading is
``AT+CMGR`` and the PDU decoded here. The PDU codec is the emulator's
(:mod:`emulator.sms.pdu`, on smspdudecoder), a pure function of bytes.

QuecPython's conventions: 0 success, -1 failure (the reason is logged), and the callback
gets ``(sim_id, index, storage)`` for each ``+CMTI`` the module raises. Length limits are
the EC200U's as QuecPython documents them (GSM up to 640 characters, UCS2 up to 280
bytes, in concatenated parts).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable

from client_api.at_args import parse_fields
from client_api.at_session import UrcReceived
from client_api.channel import AtChannel, AtResponse
from client_api.errors import AtChannelError
from client_api.ports import default_channel
from client_api.quecpython._support import FAILED, log, missing_attribute
from emulator.sms.pdu import (
    Address,
    Alphabet,
    PduError,
    SmsDeliver,
    SmsSubmit,
    dcs_for,
    decode_tpdu,
    fits_gsm7,
    read_sca,
    split_text,
)

PROVIDED = (
    "sendTextMsg",
    "sendPduMsg",
    "deleteMsg",
    "setSaveLoc",
    "getSaveLoc",
    "getMsgNums",
    "searchPduMsg",
    "searchTextMsg",
    "getPduLength",
    "decodePdu",
    "getCenterAddr",
    "setCenterAddr",
    "setCallback",
)

OK = 0
CODE_MODES = ("GSM", "UCS2")
MAX_NUMBER = 20  # bytes of phoneNumber (QuecPython's limit)
MAX_GSM_CHARS = 640  # EC200U long messages, GSM 7-bit (QuecPython sms documentation)
MAX_UCS2_BYTES = 280  # EC200U long messages, UCS2
STORAGES = ("SM", "ME", "MT")  # passed on; the module says which it has
SEND_TIMEOUT = 30.0  # seconds for one part: the network answers AT+CMGS
CTRL_Z = b"\x1a"

_references = itertools.count(1)


def _command(command: str, *, payload: bytes | None = None) -> AtResponse | None:
    try:
        channel = default_channel()
        if payload is None:
            return channel.command(command)
        return channel.command(command, timeout=SEND_TIMEOUT, payload=payload)
    except AtChannelError as exc:
        log.warning("sms: %s", exc)
        return None


def _pdu_mode() -> bool:
    return _command("AT+CMGF=0") is not None


# ------------------------------------------------------------------------ sending
def _send(call: str, phone_number: object, msg: object, code_mode: object) -> int:
    if not isinstance(phone_number, str) or not isinstance(msg, str):
        log.warning("sms.%s: phoneNumber and msg are strings", call)
        return FAILED
    if code_mode not in CODE_MODES:
        log.warning("sms.%s: codeMode %r is not 'GSM' or 'UCS2'", call, code_mode)
        return FAILED
    if not msg:
        log.warning("sms.%s: an empty message is not sent", call)
        return FAILED
    if len(phone_number.encode()) > MAX_NUMBER:
        log.warning("sms.%s: phoneNumber is over %d bytes", call, MAX_NUMBER)
        return FAILED
    try:
        destination = Address.parse(phone_number)
        parts = split_text(msg, next(_references) & 0xFF, ucs2=code_mode == "UCS2")
    except PduError as exc:
        log.warning("sms.%s: %s", call, exc)
        return FAILED
    if code_mode == "GSM" and not fits_gsm7(msg):
        log.warning("sms.%s: %r is not all in the GSM 7-bit alphabet: use 'UCS2'", call, msg)
        return FAILED
    if code_mode == "GSM" and len(msg) > MAX_GSM_CHARS:
        log.warning("sms.%s: over %d characters in GSM mode", call, MAX_GSM_CHARS)
        return FAILED
    if code_mode == "UCS2" and len(msg.encode("utf-16-be")) > MAX_UCS2_BYTES:
        log.warning("sms.%s: over %d bytes in UCS2 mode", call, MAX_UCS2_BYTES)
        return FAILED
    if not _pdu_mode():
        return FAILED
    for part in parts:
        tpdu = SmsSubmit(
            reference=0,
            destination=destination,
            user_data=part,
            dcs=dcs_for(part.alphabet),
        ).encode()
        # "00": the SMSC address of AT+CSCA (27.005 §3.1).
        payload = ("00" + tpdu.hex().upper()).encode("ascii") + CTRL_Z
        response = _command(f"AT+CMGS={len(tpdu)}", payload=payload)
        if response is None or response.value("+CMGS:") is None:
            return FAILED
    return OK


def sendTextMsg(phoneNumber: object, msg: object, codeMode: object) -> int:
    """Send ``msg`` to ``phoneNumber`` in GSM 7-bit or UCS2 (concatenated when long)."""
    return _send("sendTextMsg", phoneNumber, msg, codeMode)


def sendPduMsg(phoneNumber: object, msg: object, codeMode: object) -> int:
    """The same message as ``sendTextMsg``, which on this runtime is sent as PDUs too."""
    return _send("sendPduMsg", phoneNumber, msg, codeMode)


# ------------------------------------------------------------------------ storage
def deleteMsg(index: object, delmode: object = 0) -> int:
    """``AT+CMGD=<index>,<delmode>``: 0 that message, 1-4 as 27.005's <delflag> (4: all)."""
    if not isinstance(index, int) or not isinstance(delmode, int) or not 0 <= delmode <= 4:
        log.warning("sms.deleteMsg: index is an integer and delmode 0-4")
        return FAILED
    return OK if _command(f"AT+CMGD={index},{delmode}") is not None else FAILED


def setSaveLoc(mem1: object, mem2: object, mem3: object) -> int:
    """``AT+CPMS``: where messages are read/deleted, written/sent and received."""
    mems = (mem1, mem2, mem3)
    if not all(isinstance(m, str) and m in STORAGES for m in mems):
        log.warning("sms.setSaveLoc: storages are 'SM', 'ME' or 'MT'")
        return FAILED
    return OK if _command('AT+CPMS="{}","{}","{}"'.format(*mems)) is not None else FAILED


def _storage() -> list[list[object]] | None:
    response = _command("AT+CPMS?")
    value = response.value("+CPMS:") if response is not None else None
    fields = parse_fields(value) if value is not None else []
    if len(fields) != 9:
        return None
    return [list(fields[i : i + 3]) for i in (0, 3, 6)]


def getSaveLoc() -> tuple[list[object], ...] | int:
    """``([mem1, used, total], [mem2, used, total], [mem3, used, total])``."""
    storage = _storage()
    return tuple(storage) if storage is not None else FAILED


def getMsgNums() -> int:
    """How many messages the read storage (mem1) holds."""
    storage = _storage()
    if storage is None or not isinstance(storage[0][1], int):
        return FAILED
    return storage[0][1]


def searchPduMsg(index: object) -> str | int:
    """The stored message as PDU-mode hex (SMSC address first), -1 when there is none."""
    if not isinstance(index, int) or not _pdu_mode():
        return FAILED
    response = _command(f"AT+CMGR={index}")
    if response is None or len(response.lines) < 2:
        return FAILED
    return response.lines[1].strip()


def _decode(pdu: str) -> SmsDeliver | SmsSubmit | None:
    try:
        raw = bytes.fromhex(pdu)
        _, size = read_sca(raw)
        return decode_tpdu(raw[size:])
    except (ValueError, PduError) as exc:
        log.warning("sms: not a PDU: %s", exc)
        return None


def _text_of(message: SmsDeliver | SmsSubmit) -> str:
    ud = message.user_data
    return ud.text if ud.alphabet is not Alphabet.DATA8 else ud.data.hex().upper()


def _number_of(message: SmsDeliver | SmsSubmit) -> str:
    if isinstance(message, SmsDeliver):
        return message.originator.number
    return message.destination.number


def searchTextMsg(index: object) -> tuple[str, str, int] | int:
    """``(phoneNumber, msg, msgLen)``; msgLen counts UCS2 bytes, as the device reports."""
    pdu = searchPduMsg(index)
    if not isinstance(pdu, str):
        return FAILED
    message = _decode(pdu)
    if message is None:
        return FAILED
    text = _text_of(message)
    return _number_of(message), text, len(text.encode("utf-16-be"))


def getPduLength(pduMsg: object) -> int:
    """The TPDU's length in octets: the PDU without its SMSC address (AT+CMGS <length>)."""
    if not isinstance(pduMsg, str):
        return FAILED
    try:
        raw = bytes.fromhex(pduMsg)
        _, size = read_sca(raw)
    except (ValueError, PduError) as exc:
        log.warning("sms.getPduLength: %s", exc)
        return FAILED
    return len(raw) - size


def decodePdu(pduMsg: object, pduLen: object) -> tuple[str, str, str, int] | int:
    """``(phoneNumber, msg, time, msgLen)`` of an SMS-DELIVER PDU; ``time`` is the service
    centre's time stamp, ``"YYYY-MM-DD hh:mm:ss"`` in the sender's local time. ``pduLen``
    is not needed (the PDU says its length), as QuecPython's own example shows."""
    if not isinstance(pduMsg, str) or not isinstance(pduLen, int):
        return FAILED
    message = _decode(pduMsg)
    if not isinstance(message, SmsDeliver):
        return FAILED
    stamp = message.timestamp
    when = (
        f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d} "
        f"{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d}"
    )
    text = _text_of(message)
    return message.originator.number, text, when, len(text.encode("utf-16-be"))


def getCenterAddr() -> str | int:
    """``AT+CSCA?`` in the GSM character set: the SMSC number."""
    if _command('AT+CSCS="GSM"') is None:
        return FAILED
    response = _command("AT+CSCA?")
    value = response.value("+CSCA:") if response is not None else None
    fields = parse_fields(value) if value is not None else []
    return fields[0] if fields and isinstance(fields[0], str) and fields[0] else FAILED


def setCenterAddr(addr: object) -> int:
    """``AT+CSCA="<addr>",<145|129>``."""
    if not isinstance(addr, str) or not addr or len(addr) > 30:
        log.warning("sms.setCenterAddr: addr is a number of at most 30 characters")
        return FAILED
    try:
        address = Address.parse(addr)
    except PduError as exc:
        log.warning("sms.setCenterAddr: %s", exc)
        return FAILED
    if _command('AT+CSCS="GSM"') is None:
        return FAILED
    ok = _command(f'AT+CSCA="{address.number}",{address.toa}') is not None
    return OK if ok else FAILED


# ------------------------------------------------------------------------ callback
class _CallbackSlot:
    """The one SMS callback of a channel (a new ``setCallback`` replaces it)."""

    def __init__(self, channel: AtChannel) -> None:
        self.callback: Callable[[tuple[int, int, str]], object] | None = None
        channel.add_urc_listener(self._on_urc, prefix="+CMTI:")

    def _on_urc(self, urc: UrcReceived) -> None:
        callback = self.callback
        fields = parse_fields(urc.line[len("+CMTI:") :])
        if callback is None or len(fields) != 2:
            return
        storage, index = fields
        if isinstance(storage, str) and isinstance(index, int):
            callback((0, index, storage))  # (SIM slot, index, storage)


_slots: weakref.WeakKeyDictionary[AtChannel, _CallbackSlot] = weakref.WeakKeyDictionary()
_slots_lock = threading.Lock()


def has_callback(channel: AtChannel) -> bool:
    """Whether a script registered an SMS callback on ``channel`` (used by the runtime)."""
    with _slots_lock:
        slot = _slots.get(channel)
    return slot is not None and slot.callback is not None


def setCallback(usrFun: object) -> int:
    """Call ``usrFun((sim_id, index, storage))`` for each new stored message (``+CMTI``).

    The module is asked to store and indicate new messages (``AT+CNMI=2,1,0,0,0``)."""
    if not callable(usrFun):
        log.warning("sms.setCallback: usrFun is not callable")
        return FAILED
    if _command("AT+CNMI=2,1,0,0,0") is None:
        return FAILED
    channel = default_channel()
    with _slots_lock:
        slot = _slots.get(channel)
        if slot is None:
            slot = _slots[channel] = _CallbackSlot(channel)
    slot.callback = usrFun
    return OK


def __getattr__(name: str) -> object:
    raise missing_attribute("sms", name, PROVIDED)
