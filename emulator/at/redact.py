"""Keys out of records: the PSK in AT text is masked before it reaches a trace, a scenario
transcript or a JUnit report.

The key travels in ``AT+QLWCFG="security",<id>,<ssid>,"<uri>",<bs>,<mode>,"<pskID>","<key>"``
and comes back in the read form ``+QLWCFG: "security",...,"<pskID>","<key>"``. Which field of
which line is secret is data (:data:`SECRET_FIELDS`). Every character of a secret field is
replaced by ``*``: a record still shows that a key was set and how long it is, never the key.

:class:`SecretMask` works on a stream, one chunk at a time (a terminal sends a command a byte at
a time; a trace records chunks as they come), and finds a secret line anywhere, also in the
middle of a failure message that quotes it. Masking keeps every length, so offsets and byte
counts in a record stay true. An explicit option (``quecemu serve --trace-secrets``) skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SECRET_FIELDS", "SecretMask", "redact"]


@dataclass(frozen=True, slots=True)
class SecretField:
    prefix: str  # upper case; matched case-insensitively anywhere in a line
    index: int  # which comma-separated field after the prefix is secret (0 = the first)


SECRET_FIELDS: tuple[SecretField, ...] = (
    SecretField('+QLWCFG="SECURITY",', 6),  # the write: id, ssid, uri, bs, mode, pskID, key
    SecretField('+QLWCFG: "SECURITY",', 6),  # the read form: the same fields
)

MASK = "*"
_WINDOW = max(len(f.prefix) for f in SECRET_FIELDS)
# What every prefix starts with: a whole text without it has nothing to mask.
_COMMON = SECRET_FIELDS[0].prefix[: len("+QLWCFG")]
assert all(f.prefix.startswith(_COMMON) for f in SECRET_FIELDS)


class SecretMask:
    """Masks secret fields in a stream of AT text; state carries over between chunks."""

    def __init__(self, fields: tuple[SecretField, ...] = SECRET_FIELDS) -> None:
        self._fields = fields
        self._recent = ""  # the last characters of the line, upper case
        self._secret_index: int | None = None  # inside a matched line: which field is secret
        self._field = 0
        self._quoted = False

    def feed_text(self, text: str) -> str:
        return "".join(self._one(c) for c in text)

    def feed(self, data: bytes) -> bytes:
        return self.feed_text(data.decode("latin-1")).encode("latin-1")

    def _one(self, c: str) -> str:
        if c in "\r\n":
            self._recent, self._secret_index, self._quoted = "", None, False
            return c
        if self._secret_index is not None:
            return self._in_fields(c)
        self._recent = (self._recent + c.upper())[-_WINDOW:]
        for secret in self._fields:
            if self._recent.endswith(secret.prefix):
                self._secret_index, self._field, self._quoted = secret.index, 0, False
                break
        return c

    def _in_fields(self, c: str) -> str:
        secret = self._field == self._secret_index
        if c == '"':
            self._quoted = not self._quoted
            if secret and not self._quoted:  # the secret string is closed: nothing more
                self._secret_index, self._recent = None, ""
            return c
        if secret and not self._quoted and c in " \\":  # the end of an unquoted value
            self._secret_index, self._recent = None, ""
            return c
        if c == "," and not self._quoted:
            self._field += 1
            if self._field > (self._secret_index or 0):
                self._secret_index = None  # past the secret: look for the next prefix
                self._recent = ""
            return c
        if c == ";" and not self._quoted:  # the next command of a concatenated line
            self._secret_index, self._recent = None, ""
            return c
        return MASK if secret else c


def redact(text: str) -> str:
    """``text`` with every secret field masked (each line read on its own)."""
    if _COMMON not in text.upper():
        return text  # most lines of a transcript: one scan, not a state machine per character
    return SecretMask().feed_text(text)
