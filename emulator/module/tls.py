"""What AT+QSSLCFG configures for one SSL context (Quectel "SSL Application Note"), as the
data stacks take it when a link opens; :mod:`emulator.adapters.tls` builds the TLS context.
"""

from __future__ import annotations

from dataclasses import dataclass

#: <ciphersuite> 0xFFFF: every suite the TLS library has.
ALL_CIPHERS = 0xFFFF


@dataclass(frozen=True, kw_only=True)
class TlsRequest:
    """What AT+QSSLCFG says for one SSL context, taken when a link opens."""

    ctx: int
    sslversion: int
    seclevel: int
    cacert: bytes | None  # PEM, read from the module's file system
    clientcert: bytes | None
    clientkey: bytes | None
    ciphersuite: int
    sni: bool
