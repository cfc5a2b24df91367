"""Ingest's projection of `video-uploaded` in its own Postgres schema (`ingest.videos`):
who owns each video, its highest attempt and the latest submission, so a reprocess can
repeat a submission with attempt + 1.

Fed twice, idempotently: by ingest's own consumer group on `video-uploaded` (which also
sees upstream publishers' events), and synchronously by the requests that publish, so a
reprocess right after an upload finds the video. The attempt only moves forward.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.shared.consume import Delivery, PermanentFailure

#: The fields of a `video-uploaded` event that a reprocess repeats.
SUBMISSION_FIELDS = ("source_uri", "source_sha256", "source_size_bytes", "source_filename",
                     "source_info", "user_metadata_json", "profile", "renditions", "priority",
                     "custom_thumbnail_uri")

_UPSERT = """
INSERT INTO ingest.videos AS v (video_id, owner, attempt, submission)
VALUES (%(video_id)s, %(owner)s, %(attempt)s, %(submission)s)
ON CONFLICT (video_id) DO UPDATE SET
    owner = CASE WHEN excluded.attempt >= v.attempt THEN excluded.owner ELSE v.owner END,
    submission = CASE WHEN excluded.attempt >= v.attempt THEN excluded.submission
                      ELSE v.submission END,
    attempt = greatest(v.attempt, excluded.attempt),
    updated_at = now()
"""


def submission_of(event: dict[str, Any]) -> dict[str, Any]:
    return {name: event.get(name) for name in SUBMISSION_FIELDS}


def _row(event: dict[str, Any]) -> dict[str, Any]:
    return {"video_id": event["video_id"], "owner": event.get("owner"),
            "attempt": event.get("attempt", 1),
            "submission": Jsonb(json.loads(json.dumps(submission_of(event), default=str)))}


class Ledger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def record(self, event: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_UPSERT, _row(event))

    async def owner_of(self, video_id: str) -> tuple[bool, str | None]:
        """(known, owner) of a video."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT owner FROM ingest.videos WHERE video_id = %s",
                                     (video_id,))
            row = await cur.fetchone()
        return (row is not None, row[0] if row else None)


async def locked_video(conn: psycopg.AsyncConnection[Any], video_id: str) -> dict[str, Any] | None:
    """The video's row, locked until the transaction ends (attempt allocation)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT video_id, owner, attempt, submission FROM ingest.videos"
                          " WHERE video_id = %s FOR UPDATE", (video_id,))
        return await cur.fetchone()


async def save_attempt(conn: psycopg.AsyncConnection[Any], event: dict[str, Any]) -> None:
    await conn.execute(_UPSERT, _row(event))


class UploadProjection:
    """The consume-loop handler of ingest's own group on `video-uploaded`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle(self, delivery: Delivery) -> None:
        await self.ledger.record(delivery.event)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        return None
