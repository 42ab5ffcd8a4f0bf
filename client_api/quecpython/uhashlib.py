"""MicroPython's ``uhashlib``: ``sha256``, ``sha1`` and ``md5`` objects on ``hashlib``.

The device's hash objects have ``update(data)`` and ``digest()`` only: ``hexdigest`` is
not there (``ubinascii.hexlify(h.digest())`` is the device idiom), so using it raises the
AttributeError the device would, with that hint. Data can be given to the constructor.
"""

from __future__ import annotations

import hashlib

Data = bytes | bytearray | memoryview


class _Hash:
    algorithm = ""

    def __init__(self, data: Data | None = None) -> None:
        self._hash = hashlib.new(self.algorithm)
        if data is not None:
            self.update(data)

    def update(self, data: Data) -> None:
        if isinstance(data, str):
            raise TypeError("object with buffer protocol required (str given)")
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def __getattr__(self, name: str) -> object:
        hint = " (use ubinascii.hexlify(h.digest()))" if name == "hexdigest" else ""
        raise AttributeError(
            f"uhashlib.{self.algorithm} object has no attribute {name!r} on the device{hint}"
        )


class sha256(_Hash):
    algorithm = "sha256"


class sha1(_Hash):
    algorithm = "sha1"


class md5(_Hash):
    algorithm = "md5"
