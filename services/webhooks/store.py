"""The dispatcher's tables (schema `webhooks`): the only module with SQL on them.

Deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so several dispatcher
processes share the work and a process that died mid-attempt leaves its claims to be
taken over when their lease ends. A delivery is due only when no earlier delivery of the
same video to the same endpoint is still open: that keeps one endpoint's webhooks of one
video in source order. A live delivery also waits `settle_s` after it was enqueued: the
source topics are separate logs read side by side, so a video's next event may be
enqueued a moment before the previous one; the wait lets the earlier one take its place.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from services.webhooks.occurrences import Step
from services.webhooks.schedule import Outcome, Verdict


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    endpoint_id: str
    message_id: str
    payload: str
    attempts: int
    source_at: datetime
    origin: str
    #: Since when the endpoint has been failing, as of the claim (None: it is fine).
    failing_since: datetime | None = None


@dataclass(frozen=True)
class Queued:
    """A webhook to enqueue for some endpoints."""

    message_id: str
    event_type: str
    video_id: str
    source_at: datetime
    payload: str


class DeliveryStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def first_of_step(self, step: Step, message_id: str) -> bool:
        """Whether `message_id` is its step's webhook (the first to claim the step, or the
        same one again after a crash)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO webhooks.progress_steps (video_id, attempt, stage, step,"
                " message_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (step.video_id, step.attempt, step.stage, step.step, message_id))
            cur = await conn.execute(
                "SELECT message_id FROM webhooks.progress_steps WHERE video_id = %s"
                " AND attempt = %s AND stage = %s AND step = %s",
                (step.video_id, step.attempt, step.stage, step.step))
            row = await cur.fetchone()
        return row is not None and row[0] == message_id

    async def stored_payload(self, message_id: str) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT payload FROM webhooks.messages"
                                     " WHERE message_id = %s", (message_id,))
            row = await cur.fetchone()
        return row[0] if row else None

    async def enqueue(self, queued: Queued, endpoint_ids: Iterable[str], origin: str) -> int:
        """New deliveries of `queued` (live ones once per endpoint), in one transaction."""
        ids = list(endpoint_ids)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO webhooks.messages (message_id, payload)"
                               " VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               (queued.message_id, queued.payload))
            if not ids:
                return 0
            cur = await conn.execute(
                "INSERT INTO webhooks.deliveries (delivery_id, endpoint_id, message_id,"
                " event_type, video_id, origin, payload, source_at)"
                " SELECT gen_random_uuid(), e, %s, %s, %s, %s, %s, %s"
                " FROM unnest(%s::uuid[]) AS e ON CONFLICT DO NOTHING",
                (queued.message_id, queued.event_type, queued.video_id, origin,
                 queued.payload, queued.source_at, ids))
            return cur.rowcount

    async def claim(self, endpoint_ids: Sequence[str], limit: int, lease_s: float,
                    settle_s: float) -> list[Claimed]:
        if not endpoint_ids or limit <= 0:
            return []
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "WITH due AS ("
                " SELECT d.delivery_id FROM webhooks.deliveries d"
                " WHERE d.state = 'pending' AND d.next_attempt_at <= now()"
                "   AND d.endpoint_id = ANY(%(endpoints)s::uuid[])"
                "   AND (d.origin <> 'live'"
                "        OR d.created_at <= now() - make_interval(secs => %(settle)s))"
                "   AND NOT EXISTS (SELECT 1 FROM webhooks.deliveries e"
                "     WHERE e.endpoint_id = d.endpoint_id AND e.video_id = d.video_id"
                "       AND d.video_id <> '' AND e.state IN ('pending', 'sending')"
                "       AND (e.source_at, e.seq) < (d.source_at, d.seq))"
                " ORDER BY d.next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE webhooks.deliveries d SET state = 'sending',"
                "   lease_until = now() + make_interval(secs => %(lease)s)"
                " FROM due WHERE d.delivery_id = due.delivery_id"
                " RETURNING d.delivery_id, d.endpoint_id, d.message_id, d.payload, d.attempts,"
                "   d.source_at, d.origin, (SELECT h.failing_since FROM webhooks.endpoint_health h"
                "   WHERE h.endpoint_id = d.endpoint_id) AS failing_since",
                {"endpoints": list(endpoint_ids), "limit": limit, "lease": lease_s,
                 "settle": settle_s})
            rows = await cur.fetchall()
        return [Claimed(str(r["delivery_id"]), str(r["endpoint_id"]), r["message_id"],
                        r["payload"], r["attempts"], r["source_at"], r["origin"],
                        r["failing_since"]) for r in rows]

    async def release(self, delivery_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE webhooks.deliveries SET state = 'pending',"
                               " lease_until = NULL WHERE delivery_id = %s AND state = 'sending'",
                               (delivery_id,))

    async def expire_leases(self) -> int:
        """Claims of a process that died mid-attempt become due again."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE webhooks.deliveries SET state = 'pending', lease_until = NULL"
                " WHERE state = 'sending' AND lease_until < now()")
            return cur.rowcount

    async def record(self, claimed: Claimed, started_at: datetime, outcome: Outcome,
                     verdict: Verdict) -> None:
        """The attempt, the delivery's new state and the endpoint's health, at once."""
        attempt = claimed.attempts + 1
        state = {"delivered": "delivered", "failed": "failed", "retry": "pending"}[
            verdict.action]
        # One transaction, its three statements in one pipeline (one round trip).
        async with self.pool.connection() as conn, conn.transaction(), conn.pipeline():
            await conn.execute(
                "INSERT INTO webhooks.attempts (delivery_id, attempt, started_at, status, error,"
                " latency_ms, response) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (claimed.delivery_id, attempt, started_at, outcome.status, outcome.error,
                 outcome.latency_ms, outcome.response))
            await conn.execute(
                "UPDATE webhooks.deliveries SET state = %s, attempts = %s, lease_until = NULL,"
                " next_attempt_at = COALESCE(%s, next_attempt_at), last_status = %s,"
                " last_error = %s, finished_at = CASE WHEN %s THEN now() END"
                " WHERE delivery_id = %s",
                (state, attempt, verdict.next_at, outcome.status, outcome.error,
                 state != "pending", claimed.delivery_id))
            if claimed.origin == "test":
                return  # a test event says nothing of the endpoint's health
            await conn.execute(
                "INSERT INTO webhooks.endpoint_health (endpoint_id, failing_since)"
                " VALUES (%s, %s) ON CONFLICT (endpoint_id) DO UPDATE SET failing_since ="
                " CASE WHEN EXCLUDED.failing_since IS NULL THEN NULL"
                " ELSE COALESCE(webhooks.endpoint_health.failing_since,"
                " EXCLUDED.failing_since) END",
                (claimed.endpoint_id, None if outcome.succeeded else started_at))

    async def retry_now(self, endpoint_id: str, delivery_id: str) -> dict[str, Any] | None:
        """A delivery by hand: one more attempt, due at once (attempts keep counting, so
        the log keeps every one; if it fails, the rest of the schedule, if any, follows)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE webhooks.deliveries SET state = CASE WHEN state = 'sending'"
                " THEN state ELSE 'pending' END, next_attempt_at = now(), finished_at = NULL"
                " WHERE delivery_id = %s AND endpoint_id = %s"
                " RETURNING delivery_id, message_id, event_type, state",
                (delivery_id, endpoint_id))
            return await cur.fetchone()

    async def log(self, endpoint_id: str, limit: int,
                  before: int | None) -> list[dict[str, Any]]:
        """Newest first: deliveries with every attempt."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT d.seq, d.delivery_id, d.message_id, d.event_type, d.video_id, d.origin,"
                " d.state, d.attempts AS attempt_count, d.created_at, d.next_attempt_at,"
                " d.finished_at, d.last_status, d.last_error, COALESCE((SELECT"
                " jsonb_agg(jsonb_build_object('attempt', a.attempt, 'at', a.started_at,"
                " 'status', a.status, 'error', a.error, 'latency_ms', a.latency_ms,"
                " 'response', a.response) ORDER BY a.attempt) FROM webhooks.attempts a"
                " WHERE a.delivery_id = d.delivery_id), '[]') AS attempts"
                " FROM webhooks.deliveries d WHERE d.endpoint_id = %s"
                " AND (%s::bigint IS NULL OR d.seq < %s) ORDER BY d.seq DESC LIMIT %s",
                (endpoint_id, before, before, limit))
            return await cur.fetchall()

    async def pending_count(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM webhooks.deliveries"
                                     " WHERE state IN ('pending', 'sending') AND attempts > 0")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())
