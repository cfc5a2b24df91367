"""Standard Webhooks signatures (the `standardwebhooks` library): `webhook-id`,
`webhook-timestamp` and `webhook-signature`, one `v1,` signature per live secret, so a
receiver that still holds the rotated-out secret verifies during the grace period."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from schemas.events import WebhookSecret

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def live(held: Iterable[WebhookSecret], now: datetime) -> list[str]:
    """The secrets that sign at `now`: the current one and those still in their grace."""
    return [s.secret for s in held if s.expires_at is None or s.expires_at > now]


def headers(message_id: str, body: str, signing: Iterable[str],
            at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in signing)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures}
