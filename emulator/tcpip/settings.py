"""The profile's ``"tcpip"`` section: limits, defaults, texts and error codes as data.

Facts from Quectel's "EC2x&EG9x TCP(IP) AT Commands Manual" and the "EC200U&EG915U Series
TCP/IP Application Note": connect IDs 0-11, AT+QISEND at most 1460 bytes, AT+QISENDEX at
most 512 bytes, AT+QIRD reads 1500 bytes when no length is given, result codes 550-574.
What the manuals leave open (how a synchronous failure is rendered, the AT+QIGETERROR
texts, whether "pdpdeact" also closes each socket with its own URC...) is a field here, so
a user can match their firmware build without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.module.profile import ModuleProfile, ProfileError

# Quectel TCP(IP) manuals, "Summary of Error Codes" (chapter 4): code -> meaning.
DEFAULT_ERROR_TEXTS: dict[int, str] = {
    0: "operation successful",
    550: "unknown error",
    551: "operation blocked",
    552: "invalid parameters",
    553: "memory not enough",
    554: "create socket failed",
    555: "operation not supported",
    556: "socket bind failed",
    557: "socket listen failed",
    558: "socket write failed",
    559: "socket read failed",
    560: "socket accept failed",
    561: "open PDP context failed",
    562: "close PDP context failed",
    563: "socket identity has been used",
    564: "DNS busy",
    565: "DNS parse failed",
    566: "socket connect failed",
    567: "socket has been closed",
    568: "operation busy",
    569: "operation timeout",
    570: "PDP context broken down",
    571: "cancel send",
    572: "operation not allowed",
    573: "APN not configured",
    574: "port busy",
}


@dataclass(frozen=True, kw_only=True)
class TcpipSettings:
    max_connect_id: int = 11
    max_context_id: int = 15
    max_send: int = 1460  # AT+QISEND <send_length> and a Ctrl-Z input
    max_send_hex: int = 512  # AT+QISENDEX bytes
    default_read: int = 1500  # AT+QIRD without <read_length>
    max_read: int = 1500
    receive_buffer: int = 65536  # bytes buffered per connection before reading pauses
    send_buffer: int = 65536  # unacknowledged bytes before AT+QISEND says SEND FAIL
    push_chunk: int = 1500  # direct push mode: bytes per +QIURC: "recv" (one MTU)
    max_incoming: int = 11  # connections a TCP LISTENER accepts at once
    at_port: str = "uart1"  # <AT_port> in +QISTATE
    send_echo: bool = True  # AT+QISDE factory value
    sync_errors: str = "ERROR"  # "ERROR", or "CME" for +CME ERROR: <code>
    pdpdeact_closes: bool = False  # also "+QIURC: closed" for each socket on the context
    inactive_context_error: int = 561  # +QIOPEN: <id>,<err> when the context is down
    connect_timeout: float = 75.0  # seconds before +QIOPEN: <id>,566 for a silent peer
    send_cancel_result: str = "OK"  # what ESC at the > prompt answers
    dns_servers: tuple[str, str] = ("211.138.180.2", "211.138.180.3")
    dns_ttl: int = 600
    ping_bytes: int = 32
    ntp_timeout: float = 10.0
    # transparent access mode: AT+QICFG="transpktsize" / "transwaittm" factory values (bytes;
    # units of 100 ms) and the +++ escape's guard time (seconds before and after it)
    transparent_packet_size: int = 1024
    transparent_wait: int = 2
    escape_guard: float = 1.0
    ntp_time_format: str = (
        '"{year:04d}/{month:02d}/{day:02d},{hour:02d}:{minute:02d}:{second:02d}{tz}"'
    )
    error_texts: dict[int, str] | None = None

    def error_text(self, code: int) -> str:
        texts = self.error_texts or DEFAULT_ERROR_TEXTS
        return texts.get(code, DEFAULT_ERROR_TEXTS.get(code, "unknown error"))

    @classmethod
    def from_profile(cls, profile: ModuleProfile) -> TcpipSettings:
        section: Any = profile.sections.get("tcpip", {})
        where = f"profile {profile.name} tcpip"
        if not isinstance(section, dict):
            raise ProfileError(f"{where}: must be an object")
        defaults = cls()
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in section:
                continue
            value = section[name]
            default = getattr(defaults, name)
            if name == "error_texts":
                if not isinstance(value, dict):
                    raise ProfileError(f"{where}.error_texts: maps codes to texts")
                try:
                    value = {int(k): str(v) for k, v in value.items()}
                except ValueError:
                    raise ProfileError(f"{where}.error_texts: keys are numbers") from None
            elif name == "dns_servers":
                if not (isinstance(value, list) and len(value) == 2):
                    raise ProfileError(f"{where}.dns_servers: two addresses")
                value = (str(value[0]), str(value[1]))
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ProfileError(f"{where}.{name}: true or false")
            elif isinstance(default, int) and not isinstance(default, bool):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ProfileError(f"{where}.{name}: a whole number >= 0")
            elif isinstance(default, float):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ProfileError(f"{where}.{name}: a number of seconds")
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise ProfileError(f"{where}.{name}: a string")
            values[name] = value
        unknown = set(section) - set(cls.__dataclass_fields__) - {"_comment"}
        if unknown:
            raise ProfileError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        settings = cls(**values)
        if settings.sync_errors not in ("ERROR", "CME"):
            raise ProfileError(f'{where}.sync_errors: "ERROR" or "CME"')
        return settings
