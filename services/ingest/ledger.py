"""Ingest's projection of the event log in its own Postgres schema (`ingest`): who owns
each video, its highest attempt and the latest submission (`videos`, from `video-uploaded`),
so a reprocess can repeat a submission with attempt + 1; and how attempts ended
(`outcomes`, from `video-transcoded`, `transcode-failed` and `packaging-failed`; and
`cancellations`, from `video-cancelled`), so a cancel knows whether there is still
something to cancel; when transcode began each attempt (`starts`, from the first
`transcode-progress`), so a priority changes only while the attempt waits; and each
attempt's latest priority change (`priorities`, from `video-reprioritised`).

Fed twice, idempotently: by ingest's own consumer group on those topics (which also sees
upstream publishers' events), and synchronously by the requests that publish, so a
reprocess or cancel right after an upload or cancel finds it. Every fact only moves
forward: the attempt, the latest cancellation, ready over failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from schemas import (
    PACKAGING_FAILED,
    PLAYBACK_POLICY_CHANGED,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.events import (
    PlaybackPolicyChanged,
    StageFailed,
    TranscodeProgress,
    VideoCancelled,
    VideoReprioritised,
    VideoTranscoded,
    VideoUploaded,
)
from services.shared.consume import Delivery, PermanentFailure

#: The fields of a `video-uploaded` event that a reprocess repeats.
SUBMISSION_FIELDS = ("source_uri", "source_sha256", "source_size_bytes", "source_filename",
                     "source_info", "user_metadata_json", "profile", "renditions", "priority",
                     "custom_thumbnail_uri", "playback_policy", "encryption")

_UPSERT = """
INSERT INTO ingest.videos AS v (video_id, owner, attempt, submission, attempt_started_at)
VALUES (%(video_id)s, %(owner)s, %(attempt)s, %(submission)s, %(occurred_at)s)
ON CONFLICT (video_id) DO UPDATE SET
    owner = CASE WHEN excluded.attempt >= v.attempt THEN excluded.owner ELSE v.owner END,
    submission = CASE WHEN excluded.attempt >= v.attempt THEN excluded.submission
                      ELSE v.submission END
        -- the playback policy is the latest fact by time, whichever event brought it
        || CASE WHEN coalesce((v.submission->>'playback_policy_at')::bigint, 0)
                     > coalesce((excluded.submission->>'playback_policy_at')::bigint, 0)
                THEN jsonb_build_object('playback_policy', v.submission->'playback_policy',
                                        'playback_policy_at', v.submission->'playback_policy_at')
                ELSE '{}'::jsonb END,
    attempt_started_at = CASE WHEN excluded.attempt >= v.attempt
                              THEN excluded.attempt_started_at ELSE v.attempt_started_at END,
    attempt = greatest(v.attempt, excluded.attempt),
    updated_at = now()
"""
_OUTCOME = """
INSERT INTO ingest.outcomes AS o (video_id, attempt, status, occurred_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (video_id, attempt) DO UPDATE SET
    status = CASE WHEN excluded.status = 'ready' THEN 'ready' ELSE o.status END,
    occurred_at = CASE WHEN excluded.status = 'ready' AND o.status <> 'ready'
                       THEN excluded.occurred_at ELSE o.occurred_at END
"""
_CANCELLATION = """
INSERT INTO ingest.cancellations AS c (video_id, cancelled_at) VALUES (%s, %s)
ON CONFLICT (video_id) DO UPDATE SET cancelled_at = greatest(c.cancelled_at,
                                                             excluded.cancelled_at)
"""
_START = """
INSERT INTO ingest.starts (video_id, attempt, started_at) VALUES (%s, %s, %s)
ON CONFLICT (video_id, attempt) DO NOTHING
"""
#: The latest change by time wins, in whatever order the changes are read.
_PRIORITY = """
INSERT INTO ingest.priorities AS p (video_id, attempt, priority, changed_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (video_id, attempt) DO UPDATE SET
    priority = excluded.priority, changed_at = excluded.changed_at
WHERE excluded.changed_at > p.changed_at
"""
_STANDING = """
SELECT v.owner, v.attempt, v.attempt_started_at, o.status, c.cancelled_at,
       s.started_at, coalesce(p.priority, (v.submission ->> 'priority')::int)
FROM ingest.videos v
LEFT JOIN ingest.outcomes o ON o.video_id = v.video_id AND o.attempt = v.attempt
LEFT JOIN ingest.cancellations c ON c.video_id = v.video_id
LEFT JOIN ingest.starts s ON s.video_id = v.video_id AND s.attempt = v.attempt
LEFT JOIN ingest.priorities p ON p.video_id = v.video_id AND p.attempt = v.attempt
WHERE v.video_id = %s
"""
#: In a submission: epoch ms of its playback policy (not an event field; from_record skips it).
POLICY_AT = "playback_policy_at"
_POLICY = f"""
UPDATE ingest.videos SET submission = submission
    || jsonb_build_object('playback_policy', %s::text, '{POLICY_AT}', %s::bigint),
    updated_at = now()
WHERE video_id = %s AND coalesce((submission->>'{POLICY_AT}')::bigint, 0) < %s
"""
_PROTECTION = "SELECT owner, submission->>'encryption' FROM ingest.videos WHERE video_id = %s"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


#: The topics whose events end an attempt, and the outcome each records.
OUTCOMES = {VIDEO_TRANSCODED.name: "ready", TRANSCODE_FAILED.name: "failed",
            PACKAGING_FAILED.name: "failed"}
#: Everything the ledger projects.
TOPICS = (VIDEO_UPLOADED, VIDEO_CANCELLED, VIDEO_TRANSCODED, TRANSCODE_FAILED,
          PACKAGING_FAILED, PLAYBACK_POLICY_CHANGED, TRANSCODE_PROGRESS, VIDEO_REPRIORITISED)


def submission_of(event: VideoUploaded) -> dict[str, Any]:
    # The record form: nested source facts as objects, lists as lists (JSON's shapes).
    record = event.to_record()
    return {name: record.get(name) for name in SUBMISSION_FIELDS}


def _row(event: VideoUploaded) -> dict[str, Any]:
    # When its policy was set, so a later policy change wins and an older one does not.
    facts = {**submission_of(event), POLICY_AT: _ms(event.occurred_at)}
    submission = Jsonb(json.loads(json.dumps(facts, default=str)))
    return {"video_id": event.video_id, "owner": event.owner, "attempt": event.attempt,
            "occurred_at": event.occurred_at, "submission": submission}


@dataclass(frozen=True)
class Standing:
    """Where a known video stands, for a cancel: its owner and current attempt, how that
    attempt ended (if it did) and the latest cancellation of the video."""

    owner: str | None
    attempt: int
    attempt_started_at: datetime | None
    outcome: str | None
    cancelled_at: datetime | None
    #: When transcode began the current attempt (None: it still waits for a worker).
    transcoding_since: datetime | None = None
    #: The current attempt's priority: its latest change, else its submission's.
    priority: int | None = None


class Ledger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def record(self, event: VideoUploaded) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_UPSERT, _row(event))

    async def record_outcome(self, video_id: str, attempt: int, status: str,
                             occurred_at: datetime) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_OUTCOME, (video_id, attempt, status, occurred_at))

    async def record_cancellation(self, video_id: str, cancelled_at: datetime) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_CANCELLATION, (video_id, cancelled_at))

    async def record_policy(self, event: PlaybackPolicyChanged) -> None:
        at = _ms(event.occurred_at)
        async with self.pool.connection() as conn:
            await conn.execute(_POLICY, (event.playback_policy, at, event.video_id, at))

    async def protection(self, video_id: str) -> tuple[str | None, str | None] | None:
        """(owner, encryption) of a video ingest knows; None for an unknown one."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_PROTECTION, (video_id,))).fetchone()
        return None if row is None else (row[0], row[1])

    async def record_start(self, video_id: str, attempt: int, started_at: datetime) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_START, (video_id, attempt, started_at))

    async def record_priority(self, event: VideoReprioritised) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_PRIORITY, (event.video_id, event.attempt, event.priority,
                                           event.occurred_at))

    async def standing(self, video_id: str) -> Standing | None:
        """None for a video ingest has never seen on `video-uploaded`."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(_STANDING, (video_id,))
            row = await cur.fetchone()
        return None if row is None else Standing(*row)


async def locked_video(conn: psycopg.AsyncConnection[Any], video_id: str) -> dict[str, Any] | None:
    """The video's row, locked until the transaction ends (attempt allocation)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT video_id, owner, attempt, submission FROM ingest.videos"
                          " WHERE video_id = %s FOR UPDATE", (video_id,))
        return await cur.fetchone()


async def save_attempt(conn: psycopg.AsyncConnection[Any],
                       event: VideoUploaded) -> None:
    await conn.execute(_UPSERT, _row(event))


class LedgerProjection:
    """The consume-loop handler of ingest's own group on the ledger's `TOPICS`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle(self, delivery: Delivery) -> None:
        event, topic = delivery.event, delivery.topic.name
        if isinstance(event, VideoUploaded):
            await self.ledger.record(event)
        elif isinstance(event, VideoCancelled):
            await self.ledger.record_cancellation(event.video_id, event.occurred_at)
        elif isinstance(event, PlaybackPolicyChanged):
            await self.ledger.record_policy(event)
        elif isinstance(event, VideoReprioritised):
            await self.ledger.record_priority(event)
        elif isinstance(event, TranscodeProgress):
            await self.ledger.record_start(event.video_id, event.attempt, event.occurred_at)
        else:
            assert isinstance(event, VideoTranscoded | StageFailed), topic
            await self.ledger.record_outcome(event.video_id, event.attempt, OUTCOMES[topic],
                                             event.occurred_at)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        return None
