"""The one-time token of a direct upload URL (as Mux's direct uploads): who may upload and
until when, signed with HMAC-SHA256 so a forged or altered token is refused before any
database read. Pure; one-time use is enforced by the store (`ingest.direct_uploads`)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from services.ingest.errors import Rejection

_TOKEN = re.compile(r"^([0-9a-f]{32})\.([0-9]{1,12})\.([0-9a-f]{64})$")


def signing_key(secret: str, admin_key: str) -> bytes:
    """The configured secret, else one derived from the admin key (never empty)."""
    base = secret or f"reelflow-direct-upload:{admin_key}"
    return hashlib.sha256(base.encode()).digest()


@dataclass(frozen=True)
class DirectGrant:
    direct_id: str
    expires_unix: int


def _signature(key: bytes, direct_id: str, expires_unix: int) -> str:
    return hmac.new(key, f"{direct_id}.{expires_unix}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, grant: DirectGrant) -> str:
    return f"{grant.direct_id}.{grant.expires_unix}." + _signature(key, grant.direct_id,
                                                                  grant.expires_unix)


def verify(key: bytes, token: str, now_unix: float) -> DirectGrant:
    """The grant a genuine, unexpired token carries; else a coded 404 / 410."""
    match = _TOKEN.match(token)
    if not match or not hmac.compare_digest(
            match[3], _signature(key, match[1], int(match[2]))):
        raise Rejection("upload_url_invalid", "this upload URL is not valid", 404)
    grant = DirectGrant(match[1], int(match[2]))
    if now_unix >= grant.expires_unix:
        raise Rejection("upload_url_expired", "this upload URL has expired; ask for a new one",
                        410)
    return grant
