"""What the webhooks API's OpenAPI document declares beyond FastAPI's own inference: each
route's coded refusals (the shared `{error, detail}` model)."""

from __future__ import annotations

from services.shared.http_errors import INVALID, KEYS_LOADING, UNAUTHENTICATED, refusals

_BUSY = (f"unavailable (Kafka or Postgres is down; Retry-After), {KEYS_LOADING}, "
         "endpoints_loading (the endpoints are still loading; Retry-After)")
URL_REFUSALS = "invalid_url, url_scheme_refused, url_unresolvable, url_address_refused"
_BASE = {401: UNAUTHENTICATED, 422: INVALID, 503: _BUSY}
_ONE = {**_BASE, 404: "not_found (no such endpoint, or another tenant's)"}

_BODY = {400: "invalid_json (the body is not JSON)"}
CREATE = refusals({**_BASE, **_BODY,
                   422: f"{INVALID}, {URL_REFUSALS}, invalid_event_types"})
LIST = refusals(_BASE)
ONE = refusals(_ONE)
UPDATE = refusals({**_ONE, **_BODY,
                   422: f"{INVALID}, {URL_REFUSALS}, invalid_event_types"})
RETRY = refusals({**_ONE, 404: "not_found (no such endpoint or delivery)"})
