"""Signatures a Standard Webhooks receiver verifies with the `standardwebhooks` library,
one per live secret during a rotation's grace."""

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.events import WebhookSecret
from services.webhooks.signing import headers, live, new_secret


def _now() -> datetime:
    # Taken in each test, not at collection: a receiver refuses timestamps over 5 min old,
    # and the whole suite runs for longer than that before the unit tests.
    return datetime.now(UTC).replace(microsecond=0)
BODY = '{"id":"msg_1","type":"video.ready","created_at":"2026-12-02T00:00:00Z","data":{}}'


def test_a_receiver_verifies_the_body_and_one_changed_byte_fails():
    NOW = _now()
    secret = new_secret()
    assert secret.startswith("whsec_")
    sent = headers("msg_1", BODY, [secret], NOW)
    assert Webhook(secret).verify(BODY, sent)["type"] == "video.ready"
    flipped = BODY.replace("ready", "readz")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(flipped, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, sent)


def test_during_a_rotation_both_secrets_verify_and_after_the_grace_only_the_new_one_signs():
    NOW = _now()
    old, new = new_secret(), new_secret()
    held = (WebhookSecret(secret=new, created_at=NOW),
            WebhookSecret(secret=old, created_at=NOW - timedelta(days=1),
                          expires_at=NOW + timedelta(hours=1)))
    sent = headers("msg_2", BODY, live(held, NOW), NOW)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, sent)
    later = NOW + timedelta(hours=2)
    assert live(held, later) == [new]


def test_the_headers_name_the_id_and_the_time_in_unix_seconds():
    NOW = _now()
    sent = headers("msg_3", BODY, [new_secret()], NOW)
    assert sent["webhook-id"] == "msg_3"
    assert sent["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert sent["webhook-signature"].startswith("v1,")
