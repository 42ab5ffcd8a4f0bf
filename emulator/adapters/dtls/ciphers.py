"""The DTLS-PSK suites' IANA names (:mod:`emulator.lwm2m.suites`) as Mbed TLS spells them."""

from __future__ import annotations

from collections.abc import Iterable

from mbedtls import tls

from emulator.lwm2m.suites import DEFAULT_CLIENT_SUITES, SERVER_SUITES

__all__ = ["DEFAULT_CLIENT_SUITES", "SERVER_SUITES", "mbedtls_names"]


def mbedtls_names(suites: Iterable[str]) -> tuple[str, ...]:
    """IANA names → Mbed TLS names; ``ValueError`` naming a suite the engine does not have."""
    available = set(tls.ciphers_available())
    names = []
    for suite in suites:
        name = suite.strip().replace("_", "-")
        if name not in available:
            raise ValueError(f"unknown or unsupported DTLS cipher suite {suite!r}")
        names.append(name)
    if not names:
        raise ValueError("no DTLS cipher suite given")
    return tuple(names)
