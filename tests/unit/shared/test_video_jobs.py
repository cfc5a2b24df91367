"""The long-job workers' cancellation rule (transcode, captions, chunks): a job made at or
before a video's latest cancellation is skipped, and a cancellation stops exactly the
running jobs of its video that were made before it, however many run at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import ChunkRequested, VideoCancelled
from services.shared.video_jobs import VideoJobs, cancelled_before

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def chunk(video_id: str, at: float, index: int = 0, attempt: int = 1) -> ChunkRequested:
    return ChunkRequested(
        event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=T0 + timedelta(seconds=at),
        attempt=attempt, chunk_id=f"{video_id}/{attempt}/{index}", index=index, count=3,
        start_seconds=index * 60.0, end_seconds=(index + 1) * 60.0, start_frame=index * 1500,
        frame_count=1500, source_uri=f"s3://reelflow/sources/{video_id}/original",
        renditions=("360p",), upload_event_id=str(uuid.uuid4()))


def cancellation(video_id: str, at: float) -> VideoCancelled:
    return VideoCancelled(event_id=str(uuid.uuid4()), video_id=video_id,
                          occurred_at=T0 + timedelta(seconds=at))


def test_a_cancellation_applies_to_jobs_made_at_or_before_it_and_to_no_later_one() -> None:
    video = str(uuid.uuid4())
    assert cancelled_before(chunk(video, 5), T0 + timedelta(seconds=5))
    assert cancelled_before(chunk(video, 4), T0 + timedelta(seconds=5))
    assert not cancelled_before(chunk(video, 6), T0 + timedelta(seconds=5))
    assert not cancelled_before(chunk(video, 6), None)


def test_queued_chunks_of_a_cancelled_video_are_skipped_and_others_are_not() -> None:
    video, other = str(uuid.uuid4()), str(uuid.uuid4())
    jobs = VideoJobs()
    jobs.cancel(cancellation(video, 10))
    jobs.cancel(cancellation(video, 3))  # an older one read late keeps the latest
    assert jobs.cancelled(chunk(video, 2)) and jobs.cancelled(chunk(video, 9, index=2))
    assert not jobs.cancelled(chunk(other, 2))
    # A reprocess made after the cancellation runs.
    assert not jobs.cancelled(chunk(video, 11, attempt=2))


def test_a_cancellation_stops_every_running_chunk_of_its_video_made_before_it() -> None:
    video, other = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario() -> list[str | None]:
        jobs = VideoJobs()
        started = asyncio.Event()
        stopped: list[str] = []

        async def encode(name: str) -> str:
            try:
                started.set()
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                stopped.append(name)
                raise
            return name

        async def finishing(name: str) -> str:
            await asyncio.sleep(0.05)
            return name

        runs = [asyncio.create_task(jobs.run(chunk(video, 1, 0), encode("a0"))),
                asyncio.create_task(jobs.run(chunk(video, 1, 1), encode("a1"))),
                asyncio.create_task(jobs.run(chunk(other, 1, 0), finishing("b0"))),
                asyncio.create_task(jobs.run(chunk(video, 20, 0, attempt=2),
                                             finishing("a-again")))]
        await started.wait()
        await asyncio.sleep(0)
        jobs.cancel(cancellation(video, 10))
        results = await asyncio.wait_for(asyncio.gather(*runs), 5)
        assert sorted(stopped) == ["a0", "a1"]
        return results

    assert asyncio.run(scenario()) == [None, None, "b0", "a-again"]


def test_a_revoked_or_stopping_worker_stops_the_job_and_the_cancellation_goes_on() -> None:
    async def scenario() -> bool:
        jobs = VideoJobs()
        stopped = asyncio.Event()

        async def encode() -> None:
            try:
                await asyncio.sleep(30)
            finally:
                stopped.set()

        run = asyncio.create_task(jobs.run(chunk(str(uuid.uuid4()), 1), encode()))
        await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return stopped.is_set()

    assert asyncio.run(scenario())
