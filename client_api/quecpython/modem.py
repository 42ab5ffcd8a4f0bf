"""QuecPython ``modem``: device identity read over AT (Quectel AT manual)."""

from __future__ import annotations

from client_api.quecpython._support import FAILED, at, bare_line, missing_attribute

PROVIDED = ("getDevImei", "getDevModel", "getDevSN", "getDevFwVersion", "getDevProductId")


def _identity(command: str, prefix: str | None = None) -> str | int:
    response = at(command)
    if response is None:
        return FAILED
    value = response.value(prefix) if prefix else None
    value = value if value is not None else bare_line(response)
    return value if value else FAILED


def getDevImei() -> str | int:
    """``AT+CGSN``: the IMEI (a bare line; ``+CGSN: <IMEI>`` is accepted too)."""
    return _identity("AT+CGSN", "+CGSN:")


def getDevModel() -> str | int:
    """``AT+CGMM``: e.g. ``EC200U``."""
    return _identity("AT+CGMM")


def getDevSN() -> str | int:
    """``AT+CGSN=0``: ``+CGSN: <SN>`` (Quectel's serial-number form)."""
    return _identity("AT+CGSN=0", "+CGSN:")


def getDevFwVersion() -> str | int:
    """``AT+CGMR``: the firmware revision, e.g. ``EC200UCNAAR03A15M08``."""
    value = _identity("AT+CGMR")
    if isinstance(value, str) and value.startswith("Revision:"):
        return value.split(":", 1)[1].strip()
    return value


def getDevProductId() -> str | int:
    """``AT+CGMI``: the manufacturer, ``Quectel``."""
    return _identity("AT+CGMI")


def __getattr__(name: str) -> object:
    raise missing_attribute("modem", name, PROVIDED)
