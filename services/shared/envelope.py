"""Envelope encryption of secrets on Kafka under a key-encryption key (KEK) from settings:
content keys (below) and webhook signing secrets (services/webhooks/sealing.py), each
sealed with `Keks.seal` and what it belongs to bound in as associated data.

- A content key is 16 random bytes with a random kid, per video and attempt (a reprocess
  gets fresh ones). It is wrapped with AES-256-GCM under the KEK (`REELFLOW_KEK`, 32 bytes
  base64), the video, attempt and kid bound in as associated data, so a wrapped key cannot
  be replayed under another video. Only wrapped keys reach Kafka; clear keys live in memory
  while the packager packages, and in the catalog's answer to a license or CPIX request.
- KEKs rotate: `REELFLOW_KEK` wraps, `REELFLOW_KEK_PREVIOUS` (comma-separated) still
  unwraps; `reelflow keys rotate-kek` re-wraps every key under the current one. A key names
  its KEK by `kek_id` (the first 16 hex digits of the KEK's SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.events import ContentKeyState
from services.shared.settings import CommonSettings

KEY_BYTES = 16
KEK_BYTES = 32
_NONCE = 12


class KeyUnavailable(Exception):
    """No KEK configured, or none of the configured ones wrapped this key."""


@dataclass(frozen=True)
class ContentKey:
    """A clear content key: never logged, never put in an event."""

    kid: str
    key: bytes = field(repr=False)

    @classmethod
    def new(cls) -> ContentKey:
        return cls(str(uuid.uuid4()), os.urandom(KEY_BYTES))

    @property
    def kid_hex(self) -> str:
        return uuid.UUID(self.kid).hex


def kek_id(kek: bytes) -> str:
    return hashlib.sha256(kek).hexdigest()[:16]


def _decode_kek(text: str) -> bytes:
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise KeyUnavailable("a configured KEK is not base64") from exc
    if len(kek) != KEK_BYTES:
        raise KeyUnavailable(f"a KEK must be {KEK_BYTES} bytes (base64), not {len(kek)}")
    return kek


def new_kek() -> str:
    return base64.b64encode(os.urandom(KEK_BYTES)).decode()


@dataclass(frozen=True)
class Keks:
    """The current KEK (wraps) and every one that may still unwrap, by kek_id."""

    current: bytes | None
    known: dict[str, bytes]

    @classmethod
    def from_settings(cls, common: CommonSettings) -> Keks:
        current = _decode_kek(common.kek) if common.kek else None
        previous = [_decode_kek(k) for k in common.kek_previous.split(",") if k.strip()]
        known = {kek_id(k): k for k in (*previous, *([current] if current else []))}
        return cls(current, known)

    def seal(self, clear: bytes, bound: bytes) -> tuple[str, bytes]:
        """(kek_id, nonce + AES-256-GCM ciphertext) of `clear` under the current KEK, with
        `bound` (what it belongs to) as associated data."""
        if self.current is None:
            raise KeyUnavailable("no key-encryption key is configured (REELFLOW_KEK)")
        nonce = os.urandom(_NONCE)
        return kek_id(self.current), nonce + AESGCM(self.current).encrypt(nonce, clear, bound)

    def open(self, wrapped_by: str, sealed: bytes, bound: bytes) -> bytes:
        """The clear bytes `seal` sealed under the KEK `wrapped_by`, for the same `bound`."""
        kek = self.known.get(wrapped_by)
        if kek is None:
            raise KeyUnavailable(f"the KEK {wrapped_by} that wrapped this key is not "
                                 "configured (REELFLOW_KEK, REELFLOW_KEK_PREVIOUS)")
        try:
            return AESGCM(kek).decrypt(sealed[:_NONCE], sealed[_NONCE:], bound)
        except InvalidTag as exc:
            raise KeyUnavailable("a wrapped key does not verify") from exc

    def is_current(self, wrapped_by: str) -> bool:
        return self.current is not None and wrapped_by == kek_id(self.current)

    def wrap(self, video_id: str, attempt: int, key: ContentKey) -> tuple[str, bytes]:
        """(kek_id, nonce + AES-GCM ciphertext) of `key` under the current KEK."""
        return self.seal(key.key, _bound(video_id, attempt, key.kid))

    def unwrap(self, state: ContentKeyState) -> ContentKey:
        return ContentKey(state.kid, self.open(
            state.kek_id, state.wrapped_key, _bound(state.video_id, state.attempt, state.kid)))


def _bound(video_id: str, attempt: int, kid: str) -> bytes:
    return f"reelflow-content-key/{video_id}/{attempt}/{kid}".encode()
