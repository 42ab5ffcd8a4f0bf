"""PSK cipher suites by their IANA names (RFC 4279, RFC 5487, RFC 6655).

Profiles and the server name suites the way the RFCs and the Quectel/LwM2M documents do
(``TLS_PSK_WITH_AES_128_CCM_8``); Mbed TLS spells them with dashes. LwM2M 1.0 §7.1.7 makes
TLS_PSK_WITH_AES_128_CCM_8 mandatory for PSK mode and names TLS_PSK_WITH_AES_128_CBC_SHA256.
"""

from __future__ import annotations

from collections.abc import Iterable

from mbedtls import tls

__all__ = ["DEFAULT_CLIENT_SUITES", "SERVER_SUITES", "mbedtls_names"]

#: What a module offers unless its profile says otherwise (LwM2M 1.0 §7.1.7).
DEFAULT_CLIENT_SUITES: tuple[str, ...] = (
    "TLS_PSK_WITH_AES_128_CCM_8",
    "TLS_PSK_WITH_AES_128_CBC_SHA256",
)

#: What the embedded server accepts, in its order of preference: the LwM2M suites first, then
#: the other plain-PSK AES suites clients of other stacks offer (GCM, CCM, CBC).
SERVER_SUITES: tuple[str, ...] = (
    "TLS_PSK_WITH_AES_128_CCM_8",
    "TLS_PSK_WITH_AES_128_CBC_SHA256",
    "TLS_PSK_WITH_AES_128_GCM_SHA256",
    "TLS_PSK_WITH_AES_128_CCM",
    "TLS_PSK_WITH_AES_256_CCM_8",
    "TLS_PSK_WITH_AES_256_GCM_SHA384",
    "TLS_PSK_WITH_AES_256_CBC_SHA384",
    "TLS_PSK_WITH_AES_128_CBC_SHA",
    "TLS_PSK_WITH_AES_256_CBC_SHA",
)


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
