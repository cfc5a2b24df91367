"""Playback signing keys (RS256), as both APIs know them: ingest creates and revokes them,
the catalog checks tokens against them. Both project the compacted `signing-keys` topic
into a `SigningKeyTable`; only public keys are ever on the topic or in memory here.

A key belongs to a tenant (`owner`): its tokens may open that tenant's videos only (the
admin's keys any video). Revocation is final, as for API keys: a stale snapshot never
re-activates a key, so every token the key signed fails from then on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from schemas import SIGNING_KEYS
from schemas.events import SigningKeyState
from services.shared.codec import EventCodec
from services.shared.follow import follow

#: RSA modulus of a new key: 2048 bits, what RS256 keys are elsewhere (Mux, Cloudflare).
KEY_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    """A key's latest snapshot and its parsed public key (parsed once, not per request)."""

    state: SigningKeyState
    public_key: RSAPublicKey = field(compare=False, repr=False)

    @classmethod
    def from_event(cls, event: SigningKeyState) -> SigningKey:
        public = serialization.load_pem_public_key(event.public_key_pem.encode())
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("a signing key must be an RSA public key")
        return cls(event, public)

    @property
    def kid(self) -> str:
        return self.state.kid

    @property
    def owner(self) -> str:
        return self.state.owner

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def revoked_at(self) -> datetime | None:
        return self.state.revoked_at

    def public(self) -> dict[str, object]:
        """The API's view: never more than the public key."""
        s = self.state
        return {"kid": s.kid, "owner": s.owner, "active": s.active,
                "public_key_pem": s.public_key_pem, "created_at": s.created_at.isoformat(),
                "revoked_at": s.revoked_at.isoformat() if s.revoked_at else None}


def merge(current: SigningKey | None, incoming: SigningKey) -> SigningKey:
    """Revocation is final: once revoked, a key stays revoked whatever arrives later."""
    if current is not None and current.revoked_at is not None:
        return current
    return incoming


@dataclass
class SigningKeyTable:
    by_kid: dict[str, SigningKey] = field(default_factory=dict)

    def apply(self, event: SigningKeyState) -> SigningKey:
        key = merge(self.by_kid.get(event.kid), SigningKey.from_event(event))
        self.by_kid[key.kid] = key
        return key

    def active(self, kid: str) -> SigningKey | None:
        key = self.by_kid.get(kid)
        return key if key is not None and key.active else None


def new_keypair() -> tuple[str, str]:
    """(private key PKCS#8 PEM, public key SubjectPublicKeyInfo PEM) of a fresh RS256 key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


class SigningKeyring:
    """The `signing-keys` projection a process follows for as long as it runs."""

    def __init__(self, bootstrap: str, codec: EventCodec) -> None:
        self.table = SigningKeyTable()
        self.caught_up = asyncio.Event()
        self._bootstrap, self._codec = bootstrap, codec

    async def run(self, stop: asyncio.Event) -> None:
        await follow(self._bootstrap, SIGNING_KEYS, self._codec,
                     lambda event: self.table.apply(event),  # type: ignore[arg-type]
                     self.caught_up, stop)

    def apply(self, event: SigningKeyState) -> SigningKey:
        """Apply a snapshot this process just published (its writer sees it at once)."""
        return self.table.apply(event)
