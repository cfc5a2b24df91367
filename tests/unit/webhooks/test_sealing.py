"""Webhook signing secrets on `webhook-endpoints`: sealed under the KEK so a reader of the
topic without it learns nothing, opened by every webhooks process that has it, old records
in clear still read, and a snapshot in clear or under a previous KEK known as stale."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta

import pytest

from schemas import WEBHOOK_ENDPOINTS
from schemas.events import WebhookEndpointState, WebhookSecret
from services.shared.codec import EventCodec, spec_fingerprint
from services.shared.envelope import Keks, new_kek
from services.shared.settings import CommonSettings
from services.webhooks.directory import NO_KEK, Endpoint, EndpointTable
from services.webhooks.signing import new_secret
from tests.recorded_events import load

AT = datetime(2026, 12, 2, 10, 30, 0, 123456, tzinfo=UTC)  # sub-millisecond, as now() is
codec = EventCodec((WEBHOOK_ENDPOINTS,))


def keks(current: str | None, *previous: str) -> Keks:
    return Keks.from_settings(CommonSettings(kek=current or "", kek_previous=",".join(previous)))


def endpoint(endpoint_id: str = "6f1c2d4e-0000-4000-8000-000000000001") -> Endpoint:
    secrets = (WebhookSecret(secret=new_secret(), created_at=AT),
               WebhookSecret(secret=new_secret(), created_at=AT - timedelta(days=1),
                             expires_at=AT + timedelta(hours=3)))
    return Endpoint(endpoint_id, "acme", "https://hooks.example/a", "", (), True, None,
                    secrets, AT - timedelta(days=2), AT)


def clear(secrets: tuple[WebhookSecret, ...]) -> list[tuple[str, datetime, datetime | None]]:
    """The secrets as the topic keeps them (times to the millisecond)."""
    def ms(moment: datetime | None) -> datetime | None:
        return moment and moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return [(s.secret, ms(s.created_at), ms(s.expires_at)) for s in secrets]  # type: ignore[misc]


def on_the_wire(state: Endpoint, ring: Keks) -> bytes:
    return codec.encode(WEBHOOK_ENDPOINTS, WebhookEndpointState(
        event_id="7a1c2d4e-0000-4000-8000-000000000002", occurred_at=AT,
        **state.snapshot(ring)))


def test_the_topic_carries_no_secret_in_clear_and_the_kek_opens_them_all() -> None:
    ring, state = keks(new_kek()), endpoint()
    data = on_the_wire(state, ring)
    for secret in state.secrets:
        assert secret.secret.encode() not in data
        assert base64.b64decode(secret.secret.removeprefix("whsec_")) not in data
    read = EndpointTable(ring).apply(codec.decode(WEBHOOK_ENDPOINTS, data))
    assert clear(read.secrets) == clear(state.secrets) and not read.stale


def test_a_reader_without_the_kek_opens_nothing(caplog: pytest.LogCaptureFixture) -> None:
    data = on_the_wire(endpoint(), keks(new_kek()))
    with caplog.at_level(logging.ERROR, logger="services.webhooks.sealing"):
        for ring in (NO_KEK, keks(new_kek())):
            assert EndpointTable(ring).apply(codec.decode(WEBHOOK_ENDPOINTS, data)).secrets == ()
    assert "cannot be opened" in caplog.text


def test_a_sealed_secret_opens_only_for_the_endpoint_it_was_sealed_for() -> None:
    ring = keks(new_kek())
    moved = codec.decode(WEBHOOK_ENDPOINTS, on_the_wire(endpoint(), ring)).replace(
        endpoint_id="6f1c2d4e-0000-4000-8000-000000000009")
    assert EndpointTable(ring).apply(moved).secrets == ()


def test_without_a_kek_the_service_writes_secrets_in_clear_as_before() -> None:
    state = endpoint()
    event = codec.decode(WEBHOOK_ENDPOINTS, on_the_wire(state, NO_KEK))
    assert clear(event.secrets) == clear(state.secrets) and event.sealed_secrets == ()
    assert clear(EndpointTable().apply(event).secrets) == clear(state.secrets)


def test_an_old_record_in_clear_is_still_read_and_is_stale_once_a_kek_is_configured() -> None:
    (data, written), *_ = load("webhook-endpoint", 1)
    event = codec.decode(WEBHOOK_ENDPOINTS, data)
    texts = [s["secret"] for s in written["secrets"]]
    assert texts
    ring = keks(new_kek())
    read = EndpointTable(ring).apply(event)
    assert [s.secret for s in read.secrets] == texts and read.stale
    assert not EndpointTable().apply(event).stale  # no KEK: nothing better to write
    resealed = codec.decode(WEBHOOK_ENDPOINTS, on_the_wire(read, ring))
    assert resealed.secrets == () and len(resealed.sealed_secrets) == len(texts)
    assert [s.secret for s in EndpointTable(ring).apply(resealed).secrets] == texts


def test_after_a_kek_rotation_old_seals_open_with_the_previous_kek_and_are_stale() -> None:
    old, new = new_kek(), new_kek()
    state = endpoint()
    data = on_the_wire(state, keks(old))
    rotated = keks(new, old)
    read = EndpointTable(rotated).apply(codec.decode(WEBHOOK_ENDPOINTS, data))
    assert clear(read.secrets) == clear(state.secrets) and read.stale
    again = EndpointTable(rotated).apply(codec.decode(WEBHOOK_ENDPOINTS,
                                                      on_the_wire(read, rotated)))
    assert clear(again.secrets) == clear(state.secrets) and not again.stale
    # The old KEK dropped too soon: the secrets stay as they are, never re-sealed away.
    assert not EndpointTable(keks(new)).apply(codec.decode(WEBHOOK_ENDPOINTS, data)).stale


def test_released_webhook_endpoint_fingerprints_never_change() -> None:
    v1, v2 = WEBHOOK_ENDPOINTS.versions[:2]
    assert spec_fingerprint(v1.definition).hex() == GOLDEN_V1
    assert spec_fingerprint(v2.definition).hex() == GOLDEN_V2


#: Upstream readers frame with these: v1's is the one its recording (written before v2) has.
GOLDEN_V1 = "4859e36aa21b2623"
GOLDEN_V2 = "4ca5a0939e51d5a0"
