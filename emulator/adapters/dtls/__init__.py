"""DTLS 1.2 with pre-shared keys (RFC 6347, RFC 4279) for the module and the embedded server.

:mod:`.session` is the sans-I/O association on Mbed TLS (python-mbedtls), :mod:`.records`
reads the clear-text parts of handshakes (alerts, identities, hello extensions),
:mod:`.ciphers` maps IANA suite names, and :mod:`.coap` runs it all as aiocoap message
interfaces for a client (the module) and a server.
"""
