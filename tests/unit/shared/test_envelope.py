"""The envelope every secret on Kafka is sealed with: AES-256-GCM under the KEK, what the
secret belongs to bound in, and the KEKs that may still open it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from schemas.events import ContentKeyState
from services.shared.envelope import ContentKey, Keks, KeyUnavailable, kek_id, new_kek
from services.shared.settings import CommonSettings


def keks(current: str | None, *previous: str) -> Keks:
    return Keks.from_settings(CommonSettings(kek=current or "", kek_previous=",".join(previous)))


def test_sealed_bytes_open_only_with_their_kek_and_their_binding() -> None:
    old, new = new_kek(), new_kek()
    wrapped_by, sealed = keks(old).seal(b"the clear secret", b"thing/1")
    assert wrapped_by == kek_id(base64.b64decode(old)) and b"the clear secret" not in sealed
    assert keks(new, old).open(wrapped_by, sealed, b"thing/1") == b"the clear secret"
    with pytest.raises(KeyUnavailable, match="not configured"):
        keks(new).open(wrapped_by, sealed, b"thing/1")
    with pytest.raises(KeyUnavailable, match="does not verify"):
        keks(old).open(wrapped_by, sealed, b"thing/2")
    with pytest.raises(KeyUnavailable, match="no key-encryption key"):
        keks(None, old).seal(b"x", b"thing/1")
    assert keks(new, old).is_current(kek_id(base64.b64decode(new)))
    assert not keks(new, old).is_current(wrapped_by) and not keks(None).is_current(wrapped_by)


def test_a_content_key_unwraps_only_for_its_own_video_attempt_and_kid() -> None:
    ring = keks(new_kek())
    key = ContentKey.new()
    wrapped_by, wrapped = ring.wrap("v1", 1, key)
    state = ContentKeyState(event_id="e", occurred_at=datetime.now(UTC), kid=key.kid,
                            video_id="v1", attempt=1, kek_id=wrapped_by, wrapped_key=wrapped)
    assert ring.unwrap(state).key == key.key
    with pytest.raises(KeyUnavailable):
        ring.unwrap(state.replace(attempt=2))
