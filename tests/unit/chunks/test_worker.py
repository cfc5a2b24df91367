"""The chunk worker's decision on a cancelled video: its queued chunk jobs are acknowledged
without an encode, a download or a `chunk-encoded`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from schemas import CHUNK_REQUESTED
from services.chunks.settings import ChunksSettings
from services.chunks.worker import ChunkWorker
from services.shared.consume import Delivery
from services.shared.settings import CommonSettings
from tests.unit.shared.test_video_jobs import cancellation, chunk


class Untouchable:
    """Stands where the producer and the object store go: any use of either fails."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a cancelled video's chunk used {name}")


def test_a_chunk_of_a_cancelled_video_is_skipped_with_nothing_encoded_or_announced(
        tmp_path: Path) -> None:
    settings = ChunksSettings(work_dir=tmp_path, common=CommonSettings(state_dir=tmp_path))
    worker = ChunkWorker(settings, Untouchable(), Untouchable())  # type: ignore[arg-type]
    video = str(uuid.uuid4())
    worker.cancellation(cancellation(video, 10))
    job = chunk(video, 5, index=1)
    asyncio.run(worker.handle(Delivery(CHUNK_REQUESTED, job, None)))  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())  # no scratch either: no source was fetched
