"""TLS for the module's data stacks, from what AT+QSSLCFG says (Quectel "SSL Application
Note"): the protocol versions of <sslversion>, the cipher suite of <ciphersuite>, the
checks of <seclevel> and the trusted CA file from the module's file system.

A real module's TLS library checks the server certificate against the CA (seclevel 1 and
2) but, unless SNI and host checks are configured, not the host name; the same here.
"""

from __future__ import annotations

import ssl
import warnings

from emulator.module.tls import ALL_CIPHERS, TlsRequest

# <sslversion>: 0 SSL3.0, 1 TLS1.0, 2 TLS1.1, 3 TLS1.2, 4 all of them.
SSL_VERSIONS: dict[int, tuple[ssl.TLSVersion, ssl.TLSVersion]] = {
    1: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1),
    2: (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1),
    3: (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
    4: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2),
}
# <ciphersuite> codes (IANA TLS cipher suite registry) -> OpenSSL names.
CIPHER_SUITES: dict[int, str] = {
    0x0035: "AES256-SHA",
    0x002F: "AES128-SHA",
    0x0005: "RC4-SHA",
    0x0004: "RC4-MD5",
    0x000A: "DES-CBC3-SHA",
    0x003D: "AES256-SHA256",
    0x003C: "AES128-SHA256",
    0x009C: "AES128-GCM-SHA256",
    0x009D: "AES256-GCM-SHA384",
    0xC002: "ECDH-ECDSA-RC4-SHA",
    0xC013: "ECDHE-RSA-AES128-SHA",
    0xC014: "ECDHE-RSA-AES256-SHA",
    0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
}


class TlsSetupError(ValueError):
    """The SSL context cannot be built (no CA file, a suite or version this host lacks)."""


def client_context(request: TlsRequest) -> ssl.SSLContext:
    if request.sslversion not in SSL_VERSIONS:
        raise TlsSetupError(f"sslversion {request.sslversion} (SSL 3.0) is not available")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    lowest, highest = SSL_VERSIONS[request.sslversion]
    try:
        with warnings.catch_warnings():
            # Modules still offer TLS 1.0/1.1 (<sslversion> 1, 2, 4); Python deprecates them.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = lowest
            context.maximum_version = highest
    except (ValueError, ssl.SSLError) as exc:
        raise TlsSetupError(f"TLS versions for sslversion {request.sslversion}: {exc}") from None
    if request.ciphersuite != ALL_CIPHERS:
        name = CIPHER_SUITES.get(request.ciphersuite)
        if name is None:
            raise TlsSetupError(f"cipher suite 0x{request.ciphersuite:04X} is not known")
        try:
            context.set_ciphers(name)
        except ssl.SSLError:
            raise TlsSetupError(f"cipher suite {name} is not available here") from None
    if request.seclevel == 0:
        context.verify_mode = ssl.CERT_NONE
    else:
        if request.cacert is None:
            raise TlsSetupError('seclevel needs a CA certificate (AT+QSSLCFG="cacert")')
        try:
            context.load_verify_locations(cadata=request.cacert.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsSetupError(f"CA certificate unusable: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    if request.seclevel == 2:
        if request.clientcert is None or request.clientkey is None:
            raise TlsSetupError("seclevel 2 needs clientcert and clientkey")
        import os
        import tempfile

        # ssl loads a chain from files only: a private temporary copy, removed at once.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
            for path, data in ((cert, request.clientcert), (key, request.clientkey)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as exc:
                raise TlsSetupError(f"client certificate unusable: {exc}") from None
    return context
