"""The module's short message service, sans-I/O: settings, storage, sending, receiving.

One :class:`SmsState` per module (the ``"sms"`` component). It holds what 3GPP TS 27.005
gives a TA: the message format and TE character set, the text-mode parameters, the
preferred storages and their messages, the new-message routing of AT+CNMI, and the SMSC
address. What a real module keeps in its SIM or flash survives a reboot here through the
module's NV store: the stored messages, the SMSC address and the message reference counter.
The rest is volatile and returns to the profile's factory values on a reboot.

The network side is :meth:`SmsState.deliver` (an SMS-DELIVER arrives) and the
:class:`~emulator.sms.events.SmsSent` event (the module submitted an SMS-SUBMIT).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.at.errors import CmsError
from emulator.module.profile import ProfileError
from emulator.module.state import SimState
from emulator.sms import charset
from emulator.sms.events import SmsReceived, SmsSent
from emulator.sms.pdu import (
    Address,
    Alphabet,
    PduError,
    SmsDeliver,
    SmsSubmit,
    Timestamp,
    UserData,
    alphabet_of,
    dcs_for,
    decode_tpdu,
    split_text,
)

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "sms"
NV_NAMESPACE = "sms"
MAX_BUFFERED_URCS = 64  # AT+CNMI <mode>=0 keeps indications in the TA; beyond, oldest go


class Status(enum.IntEnum):
    """27.005 §3.1 <stat>: PDU-mode numbers, text-mode strings."""

    REC_UNREAD = 0
    REC_READ = 1
    STO_UNSENT = 2
    STO_SENT = 3

    @property
    def text(self) -> str:
        return self.name.replace("_", " ")


ALL_STATUS = 4  # AT+CMGL "ALL" / 4


class SimError(CmsError):
    code = 310


class NoNetwork(CmsError):
    code = 331


class InvalidIndex(CmsError):
    code = 321


class MemoryFull(CmsError):
    code = 322


class SmscUnknown(CmsError):
    code = 330


class OperationNotAllowed(CmsError):
    code = 302


class InvalidPdu(CmsError):
    code = 304


class InvalidText(CmsError):
    code = 305


class NotDeliverable(ValueError):
    """The network cannot hand the module an SMS now (no SIM, not registered, bad input)."""


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True, kw_only=True)
class SmsConfig:
    """The profile's ``"sms"`` section."""

    storages: dict[str, int]  # name → capacity, in the order AT+CPMS=? lists them
    first_index: int
    default_storage: str
    smsc: str
    charset: str
    cnmi: tuple[int, int, int, int, int]
    csmp: tuple[int, int, int, int]
    send_delay: float
    prompt_max_bytes: int
    full_urc: str | None  # e.g. '+QIND: "smsfull","{mem}"'; None: no URC

    @classmethod
    def from_profile(cls, section: Any) -> SmsConfig:
        where = 'profile "sms" section'
        if not isinstance(section, dict):
            raise ProfileError(f"{where} is missing or not an object")
        try:
            storages = {str(k): int(v) for k, v in section["storages"].items()}
            cnmi = tuple(int(v) for v in section["cnmi"])
            csmp = tuple(int(v) for v in section["csmp"])
            config = cls(
                storages=storages,
                first_index=int(section["first_index"]),
                default_storage=str(section["default_storage"]),
                smsc=str(section["smsc"]),
                charset=str(section["charset"]),
                cnmi=cnmi,  # type: ignore[arg-type]
                csmp=csmp,  # type: ignore[arg-type]
                send_delay=float(section["send_delay_ms"]) / 1000.0,
                prompt_max_bytes=int(section["prompt_max_bytes"]),
                full_urc=section.get("full_urc"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"{where}: {exc!r}") from None
        if len(cnmi) != 5 or len(csmp) != 4:
            raise ProfileError(f"{where}: cnmi has 5 values, csmp 4")
        if config.default_storage not in storages or config.charset not in charset.CHARSETS:
            raise ProfileError(f"{where}: default_storage or charset unknown")
        if any(n < 1 or n > 1000 for n in storages.values()):
            raise ProfileError(f"{where}: a storage holds 1-1000 messages")
        return config


# ----------------------------------------------------------------------------- storage
@dataclass
class StoredMessage:
    status: Status
    tpdu: bytes
    sca: Address | None

    def decoded(self) -> SmsDeliver | SmsSubmit:
        return decode_tpdu(self.tpdu)

    def to_nv(self) -> dict[str, Any]:
        sca = None if self.sca is None else [self.sca.number, self.sca.toa]
        return {"stat": int(self.status), "tpdu": self.tpdu.hex(), "sca": sca}

    @classmethod
    def from_nv(cls, data: dict[str, Any]) -> StoredMessage:
        sca = data.get("sca")
        tpdu = bytes.fromhex(data["tpdu"])
        decode_tpdu(tpdu)  # refuse what we could not show
        return cls(
            Status(int(data["stat"])),
            tpdu,
            None if sca is None else Address(str(sca[0]), int(sca[1])),
        )


@dataclass
class Memory:
    """One message storage (27.005 <mem>): "SM" on the SIM, "ME" in the module's flash."""

    name: str
    capacity: int
    first_index: int
    messages: dict[int, StoredMessage] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.messages)

    @property
    def last_index(self) -> int:
        return self.first_index + self.capacity - 1

    def check_index(self, index: int) -> None:
        if not self.first_index <= index <= self.last_index:
            raise InvalidIndex(f"index {index} is outside {self.first_index}-{self.last_index}")

    def free_index(self) -> int | None:
        for index in range(self.first_index, self.last_index + 1):
            if index not in self.messages:
                return index
        return None

    def add(self, message: StoredMessage) -> int:
        index = self.free_index()
        if index is None:
            raise MemoryFull(f"{self.name} holds {self.capacity} messages")
        self.messages[index] = message
        return index


# ----------------------------------------------------------------------------- settings
@dataclass
class SmsSettings:
    """Volatile TA settings (27.005 §3.2-3.4); factory values come from the profile."""

    text_mode: bool = False  # AT+CMGF
    charset: str = "GSM"  # AT+CSCS
    show_header: bool = False  # AT+CSDH
    fo: int = 17  # AT+CSMP
    vp: int = 167
    pid: int = 0
    dcs: int = 0
    mem1: str = "SM"  # AT+CPMS read/list/delete
    mem2: str = "SM"  # write/send
    mem3: str = "SM"  # received messages
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    """What became of one delivered part."""

    stored: str | None  # storage name, when stored
    index: int | None
    direct: bool  # shown with +CMT, not stored
    rejected: str | None  # why the module refused it (memory full)


# ----------------------------------------------------------------------------- the state
class SmsState:
    def __init__(self, module: VirtualModule) -> None:
        self.module = module
        self.config = SmsConfig.from_profile(module.profile.sections.get("sms"))
        self.memories = {
            name: Memory(name, capacity, self.config.first_index)
            for name, capacity in self.config.storages.items()
        }
        self.smsc = Address.parse(self.config.smsc) if self.config.smsc else None
        self.next_reference = 0
        self.settings = self._factory_settings()
        self._buffered_urcs: deque[str] = deque()
        self._concat_reference = 0
        # The network refuses submissions with this +CMS ERROR <err> (a fault to test
        # retries): 0-127 are RP causes (3GPP TS 24.011 E.2), e.g. 38 network out of order.
        self.refuse_sends: int | None = None
        self._load()

    def _factory_settings(self) -> SmsSettings:
        c = self.config
        fo, vp, pid, dcs = c.csmp
        mem = c.default_storage
        return SmsSettings(
            charset=c.charset,
            fo=fo,
            vp=vp,
            pid=pid,
            dcs=dcs,
            mem1=mem,
            mem2=mem,
            mem3=mem,
            cnmi=c.cnmi,
        )

    # -------------------------------------------------------------- NV and power
    def _load(self) -> None:
        saved = self.module.nv.load(NV_NAMESPACE)
        for name, messages in saved.get("messages", {}).items():
            memory = self.memories.get(name)
            if memory is None or not isinstance(messages, dict):
                continue
            for index_text, data in messages.items():
                try:
                    index = int(index_text)
                    memory.check_index(index)
                    memory.messages[index] = StoredMessage.from_nv(data)
                except (CmsError, KeyError, TypeError, ValueError):
                    continue  # an unreadable slot is lost, not the whole storage
        smsc = saved.get("smsc")
        if isinstance(smsc, list) and len(smsc) == 2:
            self.smsc = Address(str(smsc[0]), int(smsc[1])) if smsc[0] else None
        self.next_reference = int(saved.get("reference", 0)) & 0xFF

    def save(self) -> None:
        self.module.nv.save(
            NV_NAMESPACE,
            {
                "messages": {
                    name: {str(i): m.to_nv() for i, m in sorted(memory.messages.items())}
                    for name, memory in self.memories.items()
                },
                "smsc": ["", 0] if self.smsc is None else [self.smsc.number, self.smsc.toa],
                "reference": self.next_reference,
            },
        )

    def power_cycle(self, now: float) -> None:
        """A reboot: volatile settings back to factory; storage, SMSC and counter come back
        from NV as they were saved (a factory reset has erased them)."""
        self.settings = self._factory_settings()
        self._buffered_urcs.clear()
        for memory in self.memories.values():
            memory.messages.clear()
        self.smsc = Address.parse(self.config.smsc) if self.config.smsc else None
        self.next_reference = 0
        self._load()

    # -------------------------------------------------------------- preconditions
    def require_sim(self) -> None:
        sim = self.module.radio.sim
        if sim is SimState.NOT_INSERTED:
            raise SimError("no SIM")
        if sim is SimState.PIN:
            raise CmsError("SIM PIN required", code=311)

    def require_network(self) -> None:
        self.require_sim()
        if not self.module.radio.registered:
            raise NoNetwork("not registered to a network")

    def memory(self, name: str) -> Memory:
        return self.memories[name]

    # -------------------------------------------------------------- storage operations
    def store(self, memory_name: str, message: StoredMessage) -> int:
        index = self.memory(memory_name).add(message)
        self.save()
        return index

    def read(self, memory_name: str, index: int, *, mark_read: bool = True) -> StoredMessage | None:
        memory = self.memory(memory_name)
        memory.check_index(index)
        message = memory.messages.get(index)
        if message is not None and mark_read and message.status is Status.REC_UNREAD:
            message.status = Status.REC_READ  # 27.005 §3.4.3: reading marks it read
            self.save()
        return message

    def listing(self, memory_name: str, status: int) -> list[tuple[int, StoredMessage]]:
        """Messages of a <stat> (4: all) in index order; unread ones become read."""
        memory = self.memory(memory_name)
        found = [
            (index, message)
            for index, message in sorted(memory.messages.items())
            if status == ALL_STATUS or message.status == status
        ]
        shown = [(i, StoredMessage(m.status, m.tpdu, m.sca)) for i, m in found]
        changed = False
        for _, message in found:
            if message.status is Status.REC_UNREAD:
                message.status = Status.REC_READ
                changed = True
        if changed:
            self.save()
        return shown

    def delete(self, memory_name: str, index: int, flag: int) -> None:
        """AT+CMGD <delflag> (27.005 §3.5.4): 0 that index; 1 read; 2 read and sent;
        3 read, sent and unsent; 4 all."""
        memory = self.memory(memory_name)
        if flag == 0:
            memory.check_index(index)
            if memory.messages.pop(index, None) is not None:
                self.save()
            return
        doomed = {
            1: {Status.REC_READ},
            2: {Status.REC_READ, Status.STO_SENT},
            3: {Status.REC_READ, Status.STO_SENT, Status.STO_UNSENT},
            4: set(Status),
        }[flag]
        before = memory.used
        memory.messages = {i: m for i, m in memory.messages.items() if m.status not in doomed}
        if memory.used != before:
            self.save()

    # -------------------------------------------------------------- sending
    def take_reference(self) -> int:
        reference = self.next_reference
        self.next_reference = (reference + 1) & 0xFF
        self.save()
        return reference

    def service_centre(self, given: Address | None) -> Address:
        sca = given if given is not None else self.smsc
        if sca is None:
            raise SmscUnknown("no SMSC address (AT+CSCA)")
        return sca

    def send(self, submit: SmsSubmit, sca: Address | None, now: float) -> int:
        """Submit to the network (27.005 §3.5.1): the module's own TP-MR goes in."""
        self.require_network()
        centre = self.service_centre(sca)
        if self.refuse_sends is not None:
            raise CmsError("the network refused the SMS", code=self.refuse_sends)
        reference = self.take_reference()
        sent = submit.with_reference(reference)
        ud = sent.user_data
        part = ud.concatenation
        self.module.post_event(
            SmsSent(
                reference=reference,
                destination=sent.destination.number,
                text=ud.text,
                data=ud.data,
                alphabet=ud.alphabet,
                tpdu=sent.encode().hex().upper(),
                smsc=centre.number,
                part=None if part is None else (part.reference, part.total, part.sequence),
            )
        )
        return reference

    # -------------------------------------------------------------- receiving
    def timestamp(self, now: float) -> Timestamp:
        quarters = self.module.utc_offset_quarters
        local = dt.datetime.fromtimestamp(self.module.unix_time(now), dt.UTC) + dt.timedelta(
            minutes=15 * quarters
        )
        return Timestamp(
            local.year, local.month, local.day, local.hour, local.minute, local.second, quarters
        )

    def deliver_text(
        self, sender: str, text: str, now: float, *, smsc: str | None = None
    ) -> list[DeliveryResult]:
        """The network delivers ``text`` from ``sender``: one SMS-DELIVER, or concatenated
        parts when it is longer than one message holds (23.040 §9.2.3.24.1)."""
        try:
            originator = Address.parse(sender) if sender[:1] in "+0123456789*#" else None
            parts = split_text(text, self.take_reference_for_concatenation())
        except PduError as exc:
            raise NotDeliverable(str(exc)) from None
        if originator is None:
            raise NotDeliverable(f"sender {sender!r} is not a phone number")
        stamp = self.timestamp(now)
        tpdus = [
            SmsDeliver(
                originator=originator, timestamp=stamp, user_data=ud, dcs=dcs_for(ud.alphabet)
            )
            for ud in parts
        ]
        centre = Address.parse(smsc) if smsc else (self.smsc or Address.parse("+0"))
        return [self.deliver(tpdu.encode(), now, sca=centre) for tpdu in tpdus]

    def take_reference_for_concatenation(self) -> int:
        # The sending side picks concatenation references; any 8-bit counter does.
        self._concat_reference = (self._concat_reference + 1) & 0xFF
        return self._concat_reference

    def deliver(self, tpdu: bytes, now: float, *, sca: Address | None = None) -> DeliveryResult:
        """An SMS-DELIVER TPDU reaches the module; routed as AT+CNMI says (27.005 §3.4.1)."""
        if self.module.powered_off:
            raise NotDeliverable("the module is powered off")
        if self.module.radio.sim is not SimState.READY:
            raise NotDeliverable("the module has no usable SIM")
        if not self.module.radio.registered:
            raise NotDeliverable("the module is not registered to a network")
        try:
            deliver = decode_tpdu(tpdu)
        except PduError as exc:
            raise NotDeliverable(f"not an SMS-DELIVER: {exc}") from None
        if not isinstance(deliver, SmsDeliver):
            raise NotDeliverable("not an SMS-DELIVER (TP-MTI)")
        message = StoredMessage(Status.REC_UNREAD, tpdu, sca)
        _, mt, _, _, _ = self.settings.cnmi
        message_class = _message_class(deliver.dcs)
        direct = (mt == 2 and message_class != 2) or (mt == 3 and message_class == 3)
        result: DeliveryResult
        if direct:
            self._indicate(self._cmt(message), now)
            result = DeliveryResult(stored=None, index=None, direct=True, rejected=None)
        else:
            mem3 = self.settings.mem3
            try:
                index = self.store(mem3, message)
            except MemoryFull:
                if self.config.full_urc:
                    self.module.raise_urc(self.config.full_urc.format(mem=mem3), now)
                result = DeliveryResult(
                    stored=None, index=None, direct=False, rejected=f"{mem3} is full"
                )
            else:
                if mt != 0:
                    self._indicate(f'+CMTI: "{mem3}",{index}', now)
                result = DeliveryResult(stored=mem3, index=index, direct=False, rejected=None)
        ud = deliver.user_data
        self.module.post_event(
            SmsReceived(
                sender=deliver.originator.number,
                text=ud.text,
                storage=result.stored,
                index=result.index,
                direct=result.direct,
                rejected=result.rejected,
            )
        )
        return result

    def _indicate(self, urc: str, now: float) -> None:
        """<mode> 0 keeps indications in the TA until AT+CNMI asks for them (27.005 §3.4.1)."""
        if self.settings.cnmi[0] == 0:
            if len(self._buffered_urcs) >= MAX_BUFFERED_URCS:
                self._buffered_urcs.popleft()
            self._buffered_urcs.append(urc)
            return
        self.module.raise_urc(urc, now)

    def routing_changed(self, now: float) -> None:
        """AT+CNMI with <mode> 1-3: <bfr> 0 flushes the buffered indications, 1 clears them."""
        mode, _, _, _, bfr = self.settings.cnmi
        if mode == 0:
            return
        if bfr == 0:
            while self._buffered_urcs:
                self.module.raise_urc(self._buffered_urcs.popleft(), now)
        self._buffered_urcs.clear()

    # -------------------------------------------------------------- rendering
    def _cmt(self, message: StoredMessage) -> str:
        """+CMT (27.005 §3.4.1): text mode header and data, or PDU mode length and PDU."""
        deliver = message.decoded()
        assert isinstance(deliver, SmsDeliver)
        s = self.settings
        if not s.text_mode:
            return f"+CMT: ,{len(message.tpdu)}\r\n{pdu_text(message)}"
        head = f'+CMT: "{self.te(deliver.originator.number)}",,"{deliver.timestamp.text()}"'
        if s.show_header:
            head += "," + ",".join(self.deliver_details(message, deliver))
        return f"{head}\r\n{self.body_text(deliver.user_data, deliver.dcs)}"

    def te(self, text: str) -> str:
        return charset.address_to_te(text, self.settings.charset)

    def deliver_details(self, message: StoredMessage, deliver: SmsDeliver) -> list[str]:
        """<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length> (AT+CSDH=1)."""
        sca = message.sca
        return [
            str(deliver.originator.toa),
            str(deliver.first_octet),
            str(deliver.pid),
            str(deliver.dcs),
            f'"{self.te(sca.number) if sca else ""}"',
            str(sca.toa if sca else 129),
            str(body_length(deliver.user_data)),
        ]

    def body_text(self, ud: UserData, dcs: int) -> str:
        """27.005 §3.1 <data> in text mode: default alphabet in the TE set, else hex octets."""
        del dcs
        if ud.alphabet is Alphabet.GSM7:
            return charset.to_te(ud.text, self.settings.charset)
        return ud.body_octets().hex().upper()


def sms_state(module: VirtualModule) -> SmsState:
    """The module's SMS state, created from its profile and NV on first use."""

    def create() -> SmsState:
        try:
            return SmsState(module)
        except ProfileError as exc:
            raise CmsError(str(exc), code=303) from None

    return module.component(COMPONENT, create)


def pdu_text(message: StoredMessage) -> str:
    """The PDU as 27.005 PDU mode shows it: SMSC address in front of the TPDU, in hex."""
    sca = b"\x00" if message.sca is None else message.sca.encode_sca()
    return (sca + message.tpdu).hex().upper()


def body_length(ud: UserData) -> int:
    """Text-mode <length>: characters for the default alphabet, octets otherwise."""
    if ud.alphabet is Alphabet.GSM7:
        return len(ud.text)
    return len(ud.body_octets())


def _message_class(dcs: int) -> int | None:
    """TP-DCS message class (23.038 §4), None when it names none."""
    group = dcs >> 4
    if group <= 0b0111 and dcs & 0x10:
        return dcs & 0x03
    if group == 0b1111:
        return dcs & 0x03
    return None


def check_alphabet(dcs: int) -> Alphabet:
    try:
        return alphabet_of(dcs)
    except PduError as exc:
        raise InvalidText(str(exc)) from None
