"""QuecPython ``umqtt.simple``: ``MQTTClient`` over the module's MQTT AT commands
(Quectel MQTT Application Note), so the same script runs on the PC and on a module.

The module keeps the MQTT session (keep-alive included); this class drives it with
AT+QMTCFG/QMTOPEN/QMTCONN/QMTSUB/QMTPUB/QMTDISC and takes messages from +QMTRECV (URC
with the payload length). Errors raise ``MQTTException`` with the module's code, as
QuecPython's umqtt does. Each client takes a free client index (0-5) of the module.

Payloads pass the AT port as text lines: a received payload holding CR or LF bytes or
non-UTF-8 data is not reproduced byte for byte (publishing such data works).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from client_api.at_session import UrcReceived
from client_api.errors import AtChannelError
from client_api.ports import default_channel
from client_api.quecpython._urcs import UrcWatch, fields

CLIENT_INDEXES = range(6)
OPEN_TIMEOUT = 80.0  # AT+QMTOPEN: 75 s at most on the module
_used: set[int] = set()
_used_lock = threading.Lock()

Callback = Callable[[bytes, bytes], Any]


class MQTTException(Exception):
    pass


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _data(value: str | bytes | bytearray) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else str(value).encode()


def parse_recv(line: str) -> tuple[int, int, str, bytes] | None:
    """``+QMTRECV: <idx>,<msgid>,"<topic>",<len>,"<payload>"`` -> its parts."""
    try:
        head, rest = line.split(":", 1)[1].split(',"', 1)
        index, msgid = (int(v) for v in head.split(","))
        topic, rest = rest.split('",', 1)
        length_text, payload = rest.split(",", 1)
        length = int(length_text)
    except ValueError:
        return None
    if not (payload.startswith('"') and payload.endswith('"')):
        return None
    return index, msgid, topic, payload[1:-1].encode()[:length]


class MQTTClient:
    """``MQTTClient(client_id, server, port=0, user=None, password=None, keepalive=0,
    ssl=False, ssl_params=None, reconn=True, version=4)`` as QuecPython documents it."""

    def __init__(
        self,
        client_id: str | bytes,
        server: str,
        port: int = 0,
        user: str | bytes | None = None,
        password: str | bytes | None = None,
        keepalive: int = 0,
        ssl: bool = False,
        ssl_params: dict[str, Any] | None = None,
        reconn: bool = True,
        version: int = 4,
    ) -> None:
        self.client_id = _text(client_id)
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = _text(user) if user is not None else None
        self.pswd = _text(password) if password is not None else None
        self.keepalive = keepalive
        self.ssl = ssl
        self.ssl_params = ssl_params or {}
        self.reconn = reconn
        self.version = version
        self.cb: Callback | None = None
        self.lw: tuple[str, bytes, bool, int] | None = None
        self.pid = 0
        self.index: int | None = None
        self._messages: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._removers: list[Callable[[], None]] = []
        self._connected = False
        self._error_cb: Callable[[str], Any] | None = None

    # -------------------------------------------------------------- settings
    def set_callback(self, f: Callback) -> None:
        self.cb = f

    def set_last_will(
        self, topic: str | bytes, msg: str | bytes, retain: bool = False, qos: int = 0
    ) -> None:
        if not 0 <= qos <= 2 or not topic:
            raise ValueError("last will needs a topic and QoS 0-2")
        self.lw = (_text(topic), _data(msg), retain, qos)

    def error_register_cb(self, callback: Callable[[str], Any]) -> None:
        """``callback(message)`` when the module reports the link lost (+QMTSTAT)."""
        self._error_cb = callback

    # ----------------------------------------------------------- AT helpers
    def _at(self, command: str, payload: bytes | None = None) -> None:
        try:
            default_channel().command(command, payload=payload)
        except AtChannelError as exc:
            raise MQTTException(f"{command}: {exc}") from None

    def _watch(self, prefix: str) -> UrcWatch:
        return UrcWatch(default_channel(), prefix)

    def _result(
        self,
        prefix: str,
        command: str,
        timeout: float,
        payload: bytes | None = None,
        match: Callable[[list[str]], bool] | None = None,
    ) -> list[str]:
        """Send ``command`` and wait for its ``prefix`` URC for this client."""
        assert self.index is not None
        watch = self._watch(prefix)
        try:
            self._at(command, payload)
            line = watch.wait(
                lambda text: (
                    fields(text)[0] == str(self.index) and (match is None or match(fields(text)))
                ),
                timeout,
            )
        finally:
            watch.close()
        if line is None:
            raise MQTTException(f"{command}: no {prefix} within {timeout:g} s")
        return fields(line)

    def _next_pid(self) -> int:
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _take_index(self) -> int:
        with _used_lock:
            for index in CLIENT_INDEXES:
                if index not in _used:
                    _used.add(index)
                    return index
        raise MQTTException("all 6 MQTT client indexes of the module are in use")

    # ------------------------------------------------------------ connection
    def connect(self, clean_session: bool = True) -> int:
        if self.index is None:
            self.index = self._take_index()
            channel = default_channel()
            self._removers = [
                channel.add_urc_listener(self._on_recv, "+QMTRECV:"),
                channel.add_urc_listener(self._on_stat, "+QMTSTAT:"),
            ]
        i = self.index
        self._at(f'AT+QMTCFG="version",{i},{4 if self.version == 4 else 3}')
        self._at(f'AT+QMTCFG="keepalive",{i},{self.keepalive}')
        self._at(f'AT+QMTCFG="session",{i},{int(clean_session)}')
        self._at(f'AT+QMTCFG="recv/mode",{i},0,1')
        if self.lw is None:
            self._at(f'AT+QMTCFG="will",{i},0')
        else:
            topic, msg, retain, qos = self.lw
            self._at(f'AT+QMTCFG="will",{i},1,{qos},{int(retain)},"{topic}","{msg.decode()}"')
        if self.ssl:
            self._at(f'AT+QMTCFG="ssl",{i},1,{i}')
            self._at(f'AT+QSSLCFG="seclevel",{i},0')
        else:
            self._at(f'AT+QMTCFG="ssl",{i},0')
        opened = self._result(
            "+QMTOPEN:", f'AT+QMTOPEN={i},"{self.server}",{self.port}', OPEN_TIMEOUT
        )
        if opened[1] != "0":
            raise MQTTException(f"AT+QMTOPEN failed: result {opened[1]}")
        conn = f'AT+QMTCONN={i},"{self.client_id}"'
        if self.user is not None:
            conn += f',"{self.user}"' + (f',"{self.pswd}"' if self.pswd is not None else "")
        result = self._result("+QMTCONN:", conn, 30.0)
        if result[1:] != ["0", "0"]:
            self._at(f"AT+QMTCLOSE={i}")
            code = result[2] if len(result) > 2 else result[1]
            raise MQTTException(f"MQTT CONNECT refused: {code}")
        self._connected = True
        return 0

    def _on_recv(self, urc: UrcReceived) -> None:
        parsed = parse_recv(urc.line)
        if parsed is not None and parsed[0] == self.index:
            self._messages.put((parsed[2], parsed[3]))

    def _on_stat(self, urc: UrcReceived) -> None:
        values = fields(urc.line)
        if values[0] == str(self.index):
            self._connected = False
            self._messages.put(("", b"\x00stat:" + values[1].encode()))
            if self._error_cb is not None:
                self._error_cb(f"MQTT link lost (+QMTSTAT code {values[1]})")

    def disconnect(self) -> None:
        if self.index is None:
            return
        if self._connected:
            self._connected = False
            self._result("+QMTDISC:", f"AT+QMTDISC={self.index}", 30.0)
        self._release()

    def close(self) -> None:
        if self.index is None:
            return
        self._connected = False
        with contextlib.suppress(MQTTException):  # the link may already be gone
            self._result("+QMTCLOSE:", f"AT+QMTCLOSE={self.index}", 30.0)
        self._release()

    def _release(self) -> None:
        for remove in self._removers:
            remove()
        self._removers = []
        with _used_lock:
            _used.discard(self.index if self.index is not None else -1)
        self.index = None

    def ping(self) -> None:
        """The module sends PINGREQ itself (keep-alive); this checks the link is up."""
        try:
            state = default_channel().command("AT+QMTCONN?").values("+QMTCONN:")
        except AtChannelError as exc:
            raise MQTTException(str(exc)) from None
        if f"{self.index},3" not in [s.replace(" ", "") for s in state]:
            raise MQTTException("MQTT link is not connected")

    # --------------------------------------------------------------- traffic
    def publish(
        self, topic: str | bytes, msg: str | bytes | bytearray, retain: bool = False, qos: int = 0
    ) -> None:
        if self.index is None or not self._connected:
            raise MQTTException("publish: not connected")
        data = _data(msg)
        msgid = 0 if qos == 0 else self._next_pid()
        cmd = f'AT+QMTPUB={self.index},{msgid},{qos},{int(retain)},"{_text(topic)}",{len(data)}'
        if not data:
            cmd = cmd.rsplit(",", 1)[0]
            data = b"\x1a"
        result = self._result(
            "+QMTPUB:", cmd, 60.0, payload=data, match=lambda f: f[1] == str(msgid)
        )
        if result[2] != "0":
            raise MQTTException(f"publish failed: result {result[2]}")

    def subscribe(self, topic: str | bytes, qos: int = 0) -> None:
        if self.index is None or not self._connected:
            raise MQTTException("subscribe: not connected")
        msgid = self._next_pid()
        result = self._result(
            "+QMTSUB:",
            f'AT+QMTSUB={self.index},{msgid},"{_text(topic)}",{qos}',
            60.0,
            match=lambda f: f[1] == str(msgid),
        )
        if result[2] != "0" or (len(result) > 3 and result[3] == "128"):
            raise MQTTException(f"subscribe refused: {result[2:]}")

    def unsubscribe(self, topic: str | bytes) -> None:
        if self.index is None or not self._connected:
            raise MQTTException("unsubscribe: not connected")
        msgid = self._next_pid()
        self._result(
            "+QMTUNS:",
            f'AT+QMTUNS={self.index},{msgid},"{_text(topic)}"',
            60.0,
            match=lambda f: f[1] == str(msgid),
        )

    def _deliver(self, item: tuple[str, bytes]) -> None:
        topic, payload = item
        if not topic and payload.startswith(b"\x00stat:"):
            raise MQTTException(f"MQTT link lost (+QMTSTAT code {payload[6:].decode()})")
        if self.cb is not None:
            self.cb(topic.encode(), payload)

    def wait_msg(self) -> None:
        """Block until a message comes and hand it to the callback."""
        while True:
            try:
                item = self._messages.get(timeout=1.0)
            except queue.Empty:
                if self.index is None:
                    raise MQTTException("wait_msg: not connected") from None
                continue
            self._deliver(item)
            return

    def check_msg(self) -> None:
        """Hand a waiting message (if any) to the callback; never blocks."""
        try:
            item = self._messages.get_nowait()
        except queue.Empty:
            return
        self._deliver(item)

    def get_mqttsta(self) -> int:
        """0 connected, 1 connecting, 2 disconnected (read from AT+QMTCONN?)."""
        try:
            state = default_channel().command("AT+QMTCONN?").values("+QMTCONN:")
        except AtChannelError:
            return 2
        for entry in state:
            index, value = (int(v) for v in entry.split(","))
            if index == self.index:
                return 0 if value == 3 else 1
        return 2
