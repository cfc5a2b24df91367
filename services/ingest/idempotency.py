"""`Idempotency-Key`: a retried write returns the first answer and emits nothing new.

Per tenant, a key is *claimed* before the work starts (a row in `ingest.idempotency_keys`),
and *completed* with the 202 answer once the event is durably on Kafka. A retry then gets
that answer again (header `Idempotent-Replayed: true`) if it is the same request
(method, path and body digest), `idempotency_key_reused` (422) if it is another, and
`idempotency_key_in_progress` (409) while the first is still running. Refusals and 503s
release the claim, so the client may retry with the same key. A claim whose request died
with its process can be taken over after `claim_timeout_s`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.ingest.errors import Rejection

HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x21-\x7e]{1,255}$")


def fingerprint(method: str, path: str, *parts: str | bytes | None) -> str:
    digest = hashlib.sha256(f"{method} {path}".encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else (part or b"")
        digest.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: unambiguous
    return digest.hexdigest()


def parse_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _VALID.match(value):
        raise Rejection("invalid_idempotency_key", "the Idempotency-Key header must be 1-255 "
                        "printable ASCII characters without spaces")
    return value


@dataclass
class Claim:
    tenant: str
    key: str
    #: The first request's answer when this request is a retry: (fingerprint, status, body).
    replay: tuple[str, int, dict[str, Any]] | None = None

    def replayed(self, print_: str) -> tuple[int, dict[str, Any]]:
        """The stored answer for a matching retry; 422 for another request."""
        assert self.replay is not None
        stored_print, status, body = self.replay
        if stored_print != print_:
            raise Rejection("idempotency_key_reused", f"Idempotency-Key {self.key!r} was "
                            "already used for a different request; use a new key")
        return status, body


class IdempotencyStore:
    def __init__(self, pool: AsyncConnectionPool, claim_timeout_s: float) -> None:
        self.pool = pool
        self.claim_timeout_s = claim_timeout_s

    async def claim(self, tenant: str, key: str) -> Claim:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO ingest.idempotency_keys AS k (tenant, idempotency_key)"
                " VALUES (%s, %s) ON CONFLICT (tenant, idempotency_key) DO UPDATE"
                " SET claimed_at = now() WHERE k.completed_at IS NULL"
                " AND k.claimed_at < now() - make_interval(secs => %s) RETURNING 1",
                (tenant, key, self.claim_timeout_s))
            if await cur.fetchone():
                return Claim(tenant, key)
            cur = await conn.execute(
                "SELECT fingerprint, status, response, completed_at"
                " FROM ingest.idempotency_keys WHERE tenant = %s AND idempotency_key = %s",
                (tenant, key))
            row = await cur.fetchone()
        if row is None or row[3] is None:
            raise Rejection("idempotency_key_in_progress", f"a request with Idempotency-Key "
                            f"{key!r} is still being processed; retry later", 409)
        return Claim(tenant, key, (row[0], row[1], row[2]))

    async def complete(self, claim: Claim, print_: str, status: int,
                       body: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE ingest.idempotency_keys SET fingerprint = %s, status = %s,"
                " response = %s, completed_at = now()"
                " WHERE tenant = %s AND idempotency_key = %s",
                (print_, status, Jsonb(body), claim.tenant, claim.key))

    async def release(self, claim: Claim) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM ingest.idempotency_keys WHERE tenant = %s AND idempotency_key = %s"
                " AND completed_at IS NULL", (claim.tenant, claim.key))
