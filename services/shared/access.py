"""Who may call an API, decided without I/O: API-key hashing, the key table projected from
`api-keys` snapshots, and per-key hourly rate windows.

Keys are never kept in clear: a caller's `X-API-Key` is hashed with SHA-256 and looked up
by hash. The admin key comes from the environment (`REELFLOW_ADMIN_KEY`), is not on the
topic, acts as tenant `admin` and is not rate limited. `keyring` is the I/O shell around this.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schemas.events import ApiKeyState

#: Tenant name of the admin key (the `owner` of videos it submits).
ADMIN = "admin"
#: Prefix of generated keys, so a leaked one is recognisable in logs and scanners.
KEY_PREFIX = "rf_"
WINDOW_S = 3600


def hash_key(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def new_clear_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class AccessDenied(Exception):
    """401 (missing, unknown, revoked key), 403 (not admin) or 429 (over the limit)."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    key_sha256: str
    active: bool
    rate_limit_per_hour: int
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @classmethod
    def from_event(cls, event: ApiKeyState) -> ApiKey:
        return cls(event.key_id, event.name, event.key_sha256, event.active,
                   event.rate_limit_per_hour, event.created_at, event.revoked_at,
                   event.last_used_at)

    def snapshot(self) -> dict[str, Any]:
        """The event fields of this state (the caller adds event_id and occurred_at)."""
        return {"key_id": self.key_id, "name": self.name, "key_sha256": self.key_sha256,
                "active": self.active, "rate_limit_per_hour": self.rate_limit_per_hour,
                "created_at": self.created_at, "revoked_at": self.revoked_at,
                "last_used_at": self.last_used_at}

    def public(self) -> dict[str, Any]:
        """What the admin API shows: everything but the hash."""
        view = self.snapshot()
        del view["key_sha256"]
        return view


def merge(current: ApiKey | None, incoming: ApiKey) -> ApiKey:
    """Apply a snapshot. Revocation is final and last-used only moves forward, so a stale
    snapshot (e.g. a last-used touch built before a revoke) can never re-activate a key."""
    if current is None:
        return incoming
    revoked_at = current.revoked_at or incoming.revoked_at
    used = [t for t in (current.last_used_at, incoming.last_used_at) if t is not None]
    return replace(incoming, active=incoming.active and current.revoked_at is None,
                   revoked_at=revoked_at, last_used_at=max(used) if used else None)


@dataclass
class KeyTable:
    """key_id -> latest state, with an index by hash for verification."""

    by_id: dict[str, ApiKey] = field(default_factory=dict)
    _by_hash: dict[str, str] = field(default_factory=dict)

    def apply(self, event: ApiKeyState) -> ApiKey:
        key = merge(self.by_id.get(event.key_id), ApiKey.from_event(event))
        self.by_id[key.key_id] = key
        self._by_hash[key.key_sha256] = key.key_id
        return key

    def verify(self, clear: str) -> ApiKey | None:
        """The active key whose hash matches `clear`, or None (unknown or revoked)."""
        key_id = self._by_hash.get(hash_key(clear))
        key = self.by_id.get(key_id) if key_id else None
        return key if key is not None and key.active else None


@dataclass(frozen=True)
class Caller:
    """Who is calling: a tenant's key, or the admin key."""

    name: str
    key_id: str | None = None

    @property
    def admin(self) -> bool:
        return self.key_id is None

    def may_see(self, owner: str | None) -> bool:
        return self.admin or owner == self.name


def identify(table: KeyTable, admin_key: str,
             presented: str | None) -> tuple[Caller, ApiKey | None]:
    """The admin or a tenant's active key; AccessDenied(401) for a missing, unknown or
    revoked key."""
    if not presented:
        raise AccessDenied(401, "missing_api_key", "send your API key in the X-API-Key header")
    if admin_key and hmac.compare_digest(presented.encode(), admin_key.encode()):
        return Caller(ADMIN), None
    key = table.verify(presented)
    if key is None:
        raise AccessDenied(401, "invalid_api_key", "the API key is unknown or was revoked")
    return Caller(key.name, key.key_id), key


@dataclass
class RateWindows:
    """Fixed hourly windows per key (aligned to the hour, UTC): a key may make
    `rate_limit_per_hour` requests per window; the next one waits until the window ends."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # key_id -> (window, n)

    def take(self, key_id: str, limit: int, now_s: float) -> tuple[int, int]:
        """Count one request; returns (remaining, seconds until the window resets), or
        raises AccessDenied(429) with Retry-After when the window is spent."""
        window = int(now_s // WINDOW_S)
        reset = max(1, math.ceil((window + 1) * WINDOW_S - now_s))
        seen_window, used = self.counts.get(key_id, (window, 0))
        if seen_window != window:
            used = 0
        if used >= limit:
            raise AccessDenied(429, "rate_limited",
                               f"this key may make {limit} requests per hour; retry in "
                               f"{reset} s", {"Retry-After": str(reset),
                                              "X-RateLimit-Limit": str(limit),
                                              "X-RateLimit-Remaining": "0"})
        self.counts[key_id] = (window, used + 1)
        return limit - used - 1, reset


#: Seconds between two published last-used touches of one key (debounce).
TOUCH_INTERVAL_S = 60.0


def touch_due(last_used_at: datetime | None, now: datetime,
              interval_s: float = TOUCH_INTERVAL_S) -> bool:
    """Whether a use at `now` should publish a new last-used snapshot."""
    return last_used_at is None or (now - last_used_at).total_seconds() >= interval_s
