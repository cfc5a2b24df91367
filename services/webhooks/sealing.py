"""Webhook signing secrets on Kafka, sealed under the key-encryption key (pure, no I/O).

- A snapshot on `webhook-endpoints` carries its secrets sealed (`sealed_secrets`, v2) with
  the shared envelope (services/shared/envelope.py, as content keys are): AES-256-GCM under
  `REELFLOW_KEK`, the endpoint and the secret's creation bound in as associated data, so a
  sealed secret cannot pass for another endpoint's or another secret of the same endpoint.
  A reader of the topic without the KEK learns nothing of them.
- A service without a KEK configured writes them in clear (`secrets`, as v1 did); it warns
  at start. The clear secrets of old records are still read.
- Reading opens each sealed secret with the KEK that wrapped it (`REELFLOW_KEK` or one of
  `REELFLOW_KEK_PREVIOUS`); one that no configured KEK opens is left out (and logged): it
  cannot sign.
- `stale`: a snapshot that should be written again, sealed under the current KEK: one in
  clear while a KEK is configured, or one sealed under a previous KEK (the webhooks service
  re-seals those at start, `EndpointAdmin.reseal`: that is its KEK rotation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from schemas.events import WebhookEndpointState, WebhookSealedSecret, WebhookSecret
from services.shared.envelope import Keks, KeyUnavailable

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bound(endpoint_id: str, created_at: datetime) -> bytes:
    # Milliseconds, exactly (what the topic's timestamp-millis keeps of the moment).
    millis = (created_at - _EPOCH) // timedelta(milliseconds=1)
    return f"reelflow-webhook-secret/{endpoint_id}/{millis}".encode()


def sealed(keks: Keks, endpoint_id: str, secrets: Iterable[WebhookSecret]
           ) -> tuple[tuple[WebhookSecret, ...], tuple[WebhookSealedSecret, ...]]:
    """The (clear, sealed) secrets a snapshot carries: all sealed under the current KEK,
    or all in clear when none is configured."""
    if keks.current is None:
        return tuple(secrets), ()
    found = []
    for secret in secrets:
        wrapped_by, wrapped = keks.seal(secret.secret.encode(),
                                        _bound(endpoint_id, secret.created_at))
        found.append(WebhookSealedSecret(kek_id=wrapped_by, wrapped_secret=wrapped,
                                         created_at=secret.created_at,
                                         expires_at=secret.expires_at))
    return (), tuple(found)


def opened(keks: Keks, event: WebhookEndpointState) -> tuple[WebhookSecret, ...]:
    """The snapshot's secrets in clear, in the order written (newest first)."""
    found = list(event.secrets)
    for secret in event.sealed_secrets:
        try:
            clear = keks.open(secret.kek_id, secret.wrapped_secret,
                              _bound(event.endpoint_id, secret.created_at))
        except KeyUnavailable as exc:
            log.error("a signing secret of webhook endpoint %s cannot be opened: %s",
                      event.endpoint_id, exc)
            continue
        found.append(WebhookSecret(secret=clear.decode(), created_at=secret.created_at,
                                   expires_at=secret.expires_at))
    return tuple(found)


def stale(keks: Keks, event: WebhookEndpointState) -> bool:
    """Whether to write the snapshot again, sealed under the current KEK. Never when a
    secret's KEK is not configured: that secret would be lost (set REELFLOW_KEK_PREVIOUS)."""
    if keks.current is None or any(s.kek_id not in keks.known for s in event.sealed_secrets):
        return False
    return bool(event.secrets) or any(not keks.is_current(s.kek_id)
                                      for s in event.sealed_secrets)
