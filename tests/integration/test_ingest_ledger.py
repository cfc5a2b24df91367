"""Ingest's ledger on the real PostgreSQL (the session stack's ingest migrated it): the
priority a reprioritisation reports as previous is the attempt's latest change, in
whatever order the ledger reads the changes and the upload they change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from schemas import VIDEO_REPRIORITISED
from schemas.events import VideoReprioritised, VideoUploaded
from services.ingest.ledger import Ledger, LedgerProjection
from services.shared.consume import Delivery

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def _upload(video_id: str, attempt: int, priority: int) -> VideoUploaded:
    return VideoUploaded.from_record({
        "event_id": str(uuid.uuid4()), "video_id": video_id, "attempt": attempt,
        "occurred_at": T0, "owner": "acme", "origin": "upload",
        "source_uri": f"s3://reelflow/sources/{video_id}/original", "source_sha256": "ab",
        "priority": priority})


def _change(video_id: str, attempt: int, priority: int, after_s: int) -> Delivery:
    event = VideoReprioritised(event_id=str(uuid.uuid4()), video_id=video_id,
                               occurred_at=T0 + timedelta(seconds=after_s), attempt=attempt,
                               priority=priority, requested_by="acme")
    return Delivery(VIDEO_REPRIORITISED, event, None)  # type: ignore[arg-type]


def _priorities(dsn: str, steps: Any) -> list[int | None]:
    """Run `steps(ledger, projection, video_id)`, return the priority after each yield."""

    async def run() -> list[int | None]:
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await pool.open(wait=True, timeout=30)
        try:
            ledger = Ledger(pool)
            seen = []
            video_id = str(uuid.uuid4())
            async for _ in steps(ledger, LedgerProjection(ledger), video_id):
                standing = await ledger.standing(video_id)
                seen.append(None if standing is None else standing.priority)
            return seen
        finally:
            await pool.close()

    return asyncio.run(run())


def test_a_second_change_reports_the_first_change_as_its_previous_priority(
        pipeline: object, common_settings: Any) -> None:
    async def steps(ledger, projection, video_id):  # type: ignore[no-untyped-def]
        await ledger.record(_upload(video_id, 1, 1))
        yield
        await projection.handle(_change(video_id, 1, 9, after_s=10))
        yield
        await projection.handle(_change(video_id, 1, 4, after_s=20))
        yield

    assert _priorities(common_settings.pg_dsn, steps) == [1, 9, 4]


def test_an_older_change_read_late_does_not_undo_a_newer_one(
        pipeline: object, common_settings: Any) -> None:
    async def steps(ledger, projection, video_id):  # type: ignore[no-untyped-def]
        await ledger.record(_upload(video_id, 1, 1))
        await projection.handle(_change(video_id, 1, 9, after_s=20))
        await projection.handle(_change(video_id, 1, 3, after_s=10))
        yield
        await projection.handle(_change(video_id, 1, 9, after_s=20))  # a redelivery
        yield

    assert _priorities(common_settings.pg_dsn, steps) == [9, 9]


def test_a_change_read_before_its_upload_still_counts_and_a_new_attempt_starts_afresh(
        pipeline: object, common_settings: Any) -> None:
    async def steps(ledger, projection, video_id):  # type: ignore[no-untyped-def]
        await projection.handle(_change(video_id, 1, 8, after_s=10))  # e.g. in a rebuild
        yield
        await ledger.record(_upload(video_id, 1, 2))
        yield
        await ledger.record(_upload(video_id, 2, 5))  # a reprocess: its own priority
        yield

    assert _priorities(common_settings.pg_dsn, steps) == [None, 8, 5]
