"""The server's DTLS-PSK credential store: endpoint → (PSK identity, key).

The DTLS handshake only tells the server the PSK identity (RFC 4279 §2); the store finds the key
by identity while the handshake runs, and the claim it hands back (:class:`PskClaim`) names the
endpoint that identity belongs to, so a Register over that session is accepted only for that
endpoint (as Leshan does). Changes take effect for the next handshake.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PskClaim", "PskCredentials", "PskStore", "parse_psk_key"]


def parse_psk_key(key_hex: str) -> bytes:
    """A PSK given in hex (``"000102..."``); ``ValueError`` with the reason otherwise."""
    text = key_hex.strip()
    if not text:
        raise ValueError("the PSK key is empty")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        # The message never repeats the key: it may end up in a terminal or a CI log.
        raise ValueError(
            f"the PSK key ({len(text)} characters) is not hex (two digits per byte)"
        ) from None
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class PskCredentials:
    """One endpoint's PSK."""

    endpoint: str
    identity: bytes
    key: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PskClaim:
    """What a DTLS session proved: it knows the key of ``endpoint``'s ``identity``."""

    endpoint: str
    identity: bytes


class PskStore:
    """Endpoint → PSK, looked up by identity during DTLS handshakes."""

    def __init__(self) -> None:
        self._by_endpoint: dict[str, PskCredentials] = {}
        self._by_identity: dict[bytes, PskCredentials] = {}

    def set(self, endpoint: str, identity: str | bytes, key: bytes) -> PskCredentials:
        """Add or replace ``endpoint``'s PSK. An identity already used by another endpoint
        raises ``ValueError`` (the handshake could not tell them apart)."""
        if not endpoint:
            raise ValueError("the endpoint name is empty")
        identity_bytes = identity.encode() if isinstance(identity, str) else bytes(identity)
        if not identity_bytes:
            raise ValueError("the PSK identity is empty")
        if not key:
            raise ValueError("the PSK key is empty")
        owner = self._by_identity.get(identity_bytes)
        if owner is not None and owner.endpoint != endpoint:
            raise ValueError(
                f"PSK identity {identity_bytes!r} already belongs to endpoint {owner.endpoint!r}"
            )
        self.remove(endpoint)
        credentials = PskCredentials(endpoint=endpoint, identity=identity_bytes, key=bytes(key))
        self._by_endpoint[endpoint] = credentials
        self._by_identity[identity_bytes] = credentials
        return credentials

    def remove(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s PSK; returns whether it had one."""
        credentials = self._by_endpoint.pop(endpoint, None)
        if credentials is None:
            return False
        del self._by_identity[credentials.identity]
        return True

    def get(self, endpoint: str) -> PskCredentials | None:
        """``endpoint``'s PSK, or ``None``."""
        return self._by_endpoint.get(endpoint)

    def endpoints(self) -> tuple[str, ...]:
        """The endpoints that have a PSK, in the order they got it."""
        return tuple(self._by_endpoint)

    def __contains__(self, endpoint: object) -> bool:
        return endpoint in self._by_endpoint

    def __len__(self) -> int:
        return len(self._by_endpoint)

    def find_dtls_psk(self, identity: bytes) -> tuple[bytes, PskClaim]:
        """The handshake's lookup (aiocoap's ``CredentialsMap`` shape): ``KeyError`` for an
        unknown identity, which makes the handshake fail."""
        credentials = self._by_identity[bytes(identity)]
        return credentials.key, PskClaim(endpoint=credentials.endpoint, identity=identity)
