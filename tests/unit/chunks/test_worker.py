"""The chunk worker's decision on a cancelled video: its queued chunk jobs are acknowledged
without an encode, a download or a `chunk-encoded`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from schemas import CHUNK_REQUESTED
from schemas.events import ChunkRequested
from services.chunks.settings import ChunksSettings
from services.chunks.worker import AttemptJob, ChunkWorker
from services.shared.consume import Delivery
from services.shared.settings import CommonSettings
from tests.unit.shared.test_video_jobs import T0, cancellation, chunk


class Untouchable:
    """Stands where the producer and the object store go: any use of either fails."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a cancelled video's chunk used {name}")


def cancelled_at_10(tmp_path: Path) -> tuple[ChunkWorker, str]:
    """A chunk worker that read a cancellation of a video at T0 + 10 s, and that video."""
    settings = ChunksSettings(work_dir=tmp_path, common=CommonSettings(state_dir=tmp_path))
    worker = ChunkWorker(settings, Untouchable(), Untouchable())  # type: ignore[arg-type]
    video = str(uuid.uuid4())
    worker.jobs.cancel(cancellation(video, 10))
    return worker, video


def handle(worker: ChunkWorker, job: ChunkRequested) -> None:
    asyncio.run(worker.handle(Delivery(CHUNK_REQUESTED, job, None)))  # type: ignore[arg-type]


def test_a_chunk_of_a_cancelled_video_is_skipped_with_nothing_encoded_or_announced(
        tmp_path: Path) -> None:
    worker, video = cancelled_at_10(tmp_path)
    handle(worker, chunk(video, 5, index=1))
    assert not any(tmp_path.iterdir())  # no scratch either: no source was fetched


def test_a_chunk_published_after_the_cancel_of_an_attempt_uploaded_before_it_is_skipped(
        tmp_path: Path) -> None:
    worker, video = cancelled_at_10(tmp_path)
    # The planning worker had not read the cancel yet: its job is newer, its upload older.
    handle(worker, chunk(video, 12).replace(uploaded_at=T0))
    # A reprocess uploaded after the cancel is the job's own: not skipped.
    assert not worker.jobs.cancelled(AttemptJob.of(chunk(video, 12).replace(
        uploaded_at=T0 + timedelta(seconds=11))))
    # A v1 job (no upload time) is judged by its own time.
    assert not worker.jobs.cancelled(AttemptJob.of(chunk(video, 12)))
