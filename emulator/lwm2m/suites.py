"""The DTLS-PSK cipher suites of LwM2M, by their IANA names (RFC 4279, RFC 5487, RFC 6655,
RFC 6209, RFC 6367, RFC 7905): data for profiles and the embedded server.

Profiles and the server name suites the way the RFCs and the Quectel/LwM2M documents do
(``TLS_PSK_WITH_AES_128_CCM_8``). LwM2M 1.0 §7.1.7 makes TLS_PSK_WITH_AES_128_CCM_8
mandatory for PSK mode and names TLS_PSK_WITH_AES_128_CBC_SHA256. The DTLS adapter maps the
names to its engine's (:mod:`emulator.adapters.dtls.ciphers`).
"""

from __future__ import annotations

from collections.abc import Iterable

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

#: Every plain-PSK suite a profile may name (the ones the DTLS engine implements).
PSK_SUITES: frozenset[str] = frozenset(
    (
        *SERVER_SUITES,
        "TLS_PSK_WITH_AES_256_CCM",
        "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256",
        "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384",
        "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256",
        "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384",
        "TLS_PSK_WITH_ARIA_128_GCM_SHA256",
        "TLS_PSK_WITH_ARIA_256_GCM_SHA384",
        "TLS_PSK_WITH_ARIA_128_CBC_SHA256",
        "TLS_PSK_WITH_ARIA_256_CBC_SHA384",
    )
)


def check_suites(suites: Iterable[str]) -> tuple[str, ...]:
    """The suites, stripped; ``ValueError`` naming one that is not a known PSK suite."""
    names = tuple(suite.strip() for suite in suites)
    for name in names:
        if name not in PSK_SUITES:
            raise ValueError(f"unknown or unsupported DTLS cipher suite {name!r}")
    if not names:
        raise ValueError("no DTLS cipher suite given")
    return names
