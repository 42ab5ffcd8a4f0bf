"""QuecPython ``request``: ``get``, ``post``, ``put``, ``head``, ``patch``, ``delete`` over
the module's HTTP(S) AT commands (Quectel HTTP(S) AT Commands Manual), so the same script
runs on the PC and on a module.

A plain GET is AT+QHTTPGET; a POST with the default headers is AT+QHTTPPOST; any other
method, or custom headers, goes as a whole request with AT+QHTTPCFG="requestheader",1
(which is how a module sends them). The response is read with the header block
(AT+QHTTPCFG="responseheader",1). As in QuecPython, ``Response.text`` and
``Response.content`` are generators of chunks and ``Response.json()`` parses the body.
HTTPS uses SSL context 1 without certificate checks unless ``ssl_params`` names a CA file
already on the module (``{"cacert": "UFS:ca.pem"}``).
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from client_api.errors import AtChannelError
from client_api.ports import default_channel
from client_api.quecpython._urcs import UrcWatch, fields

TIMEOUT = 60
CHUNK = 255  # QuecPython's default ``sizeof``


class RequestError(OSError):
    """The module reported an HTTP(S) error (its 7xx code in ``args[0]``)."""


class Response:
    def __init__(
        self, status_code: int, headers: dict[str, str], body: bytes, decode: bool, sizeof: int
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self._body = body
        self._decode = decode
        self._sizeof = max(1, sizeof)

    @property
    def content(self) -> Iterator[bytes]:
        for i in range(0, len(self._body), self._sizeof):
            yield self._body[i : i + self._sizeof]

    @property
    def text(self) -> Iterator[str]:
        for chunk in self.content:
            yield chunk.decode("utf-8", "replace") if self._decode else chunk.decode("latin-1")

    def json(self) -> Any:
        return _json.loads(self._body.decode("utf-8"))

    def close(self) -> None:
        self._body = b""


def _at(command: str, payload: bytes | None = None, **kwargs: Any) -> Any:
    try:
        return default_channel().command(command, payload=payload, timeout=TIMEOUT + 10, **kwargs)
    except AtChannelError as exc:
        raise RequestError(f"{command}: {exc}") from None


def _result(prefix: str, command: str, payload: bytes | None = None) -> list[str]:
    watch = UrcWatch(default_channel(), prefix)
    try:
        _at(command, payload)
        line = watch.wait(lambda _line: True, TIMEOUT + 10)
    finally:
        watch.close()
    if line is None:
        raise RequestError(f"{command}: no {prefix} result")
    values = fields(line)
    if values[0] != "0":
        raise RequestError(int(values[0]), f"HTTP(S) error {values[0]} from the module")
    return values


def _header_end(raw: bytes) -> int | None:
    end = raw.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else None


def _read(content_length: int) -> tuple[int, dict[str, str], bytes]:
    def raw_end(raw: bytes) -> int | None:
        end = _header_end(raw)
        return None if end is None else end + content_length

    response = _at("AT+QHTTPREAD=60", raw_end=raw_end)
    raw: bytes = response.data
    end = _header_end(raw) or len(raw)
    lines = raw[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip()] = value.strip()
    return status, headers, raw[end:]


def _set_url(url: str, ssl_params: dict[str, Any] | None) -> None:
    data = url.encode()
    _at(f"AT+QHTTPURL={len(data)},{TIMEOUT}", payload=data)
    if url.lower().startswith("https://"):
        params = ssl_params or {}
        cacert = params.get("cacert")
        _at('AT+QHTTPCFG="sslctxid",1')
        _at(f'AT+QSSLCFG="seclevel",1,{1 if cacert else 0}')
        if cacert:
            _at(f'AT+QSSLCFG="cacert",1,"{cacert}"')


def request(
    method: str,
    url: str,
    data: str | bytes | dict[str, Any] | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    decode: bool = True,
    sizeof: int = CHUNK,
    ssl_params: dict[str, Any] | None = None,
) -> Response:
    method = method.upper()
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"unsupported URL {url!r} (http:// or https:// expected)")
    body: bytes
    content_type = None
    if json is not None:
        body, content_type = _json.dumps(json).encode(), "application/json"
    elif isinstance(data, dict):
        body, content_type = _json.dumps(data).encode(), "application/json"
    elif isinstance(data, str):
        body = data.encode()
    else:
        body = data or b""
    _set_url(url, ssl_params)
    _at('AT+QHTTPCFG="responseheader",1')
    custom = bool(headers) or method not in ("GET", "POST") or (method == "GET" and body)
    if not custom:
        _at('AT+QHTTPCFG="requestheader",0')
        if method == "GET":
            values = _result("+QHTTPGET:", f"AT+QHTTPGET={TIMEOUT}")
        else:
            kind = 4 if content_type == "application/json" else 0
            _at(f'AT+QHTTPCFG="contenttype",{kind}')
            values = _result(
                "+QHTTPPOST:",
                f"AT+QHTTPPOST={max(1, len(body))},{TIMEOUT},{TIMEOUT}",
                body or b" ",
            )
    else:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        sent = dict(headers or {})
        if content_type and not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = content_type
        lines += [f"{name}: {value}" for name, value in sent.items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        _at('AT+QHTTPCFG="requestheader",1')
        try:
            values = _result("+QHTTPPOST:", f"AT+QHTTPPOST={len(raw)},{TIMEOUT},{TIMEOUT}", raw)
        finally:
            _at('AT+QHTTPCFG="requestheader",0')
    length = int(values[2]) if len(values) > 2 else 0
    if method == "HEAD":
        length = 0
    status, response_headers, content = _read(length)
    return Response(status or int(values[1]), response_headers, content, decode, sizeof)


def get(url: str, data: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Response:
    return request("GET", url, data=data, headers=headers, **kw)


def post(
    url: str, data: Any = None, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
) -> Response:
    return request("POST", url, data=data, json=json, headers=headers, **kw)


def put(
    url: str, data: Any = None, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
) -> Response:
    return request("PUT", url, data=data, json=json, headers=headers, **kw)


def patch(
    url: str, data: Any = None, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
) -> Response:
    return request("PATCH", url, data=data, json=json, headers=headers, **kw)


def delete(
    url: str, data: Any = None, headers: dict[str, str] | None = None, **kw: Any
) -> Response:
    return request("DELETE", url, data=data, headers=headers, **kw)


def head(url: str, headers: dict[str, str] | None = None, **kw: Any) -> Response:
    return request("HEAD", url, headers=headers, **kw)
