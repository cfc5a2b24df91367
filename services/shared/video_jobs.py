"""The long-job workers' (transcode, captions) running jobs, one per video, and each video's
latest cancellation: a `video-cancelled` stops the video's running job, and an upload made
before the cancellation is skipped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

from schemas.events import VideoCancelled, VideoUploaded

log = logging.getLogger(__name__)

T = TypeVar("T")


class VideoJobs:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}
        #: video_id -> when it was cancelled; uploads older than that are skipped.
        self._cancelled: dict[str, datetime] = {}

    def cancel(self, event: VideoCancelled) -> None:
        self._cancelled[event.video_id] = event.occurred_at
        job = self._running.get(event.video_id)
        if job is not None and not job.done():
            log.info("cancelling the running job of %s", event.video_id)
            job.cancel()

    def cancelled(self, upload: VideoUploaded) -> bool:
        cancelled_at = self._cancelled.get(upload.video_id)
        if cancelled_at is not None and upload.occurred_at <= cancelled_at:
            log.info("skipping attempt %s: the video was cancelled", upload.attempt)
            return True
        return False

    async def run(self, upload: VideoUploaded, work: Coroutine[Any, Any, T]) -> T | None:
        """`work`'s result, or None when a `video-cancelled` stopped it. When we are revoked
        or stopping, the job is stopped too and the CancelledError goes on."""
        job = asyncio.create_task(work)
        self._running[upload.video_id] = job
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            if not job.cancelled():
                job.cancel()  # we are being revoked or stopped: stop its children as well
                await asyncio.gather(job, return_exceptions=True)
                raise
            log.info("attempt %s cancelled; its processes stopped and scratch removed",
                     upload.attempt)
            return None
        finally:
            self._running.pop(upload.video_id, None)
