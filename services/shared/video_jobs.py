"""The long-job workers' (transcode, captions, chunks) running jobs per video, and each
video's latest cancellation: a `video-cancelled` stops the video's running jobs that began
before it, and a job made before the cancellation is skipped.

A job is anything that names its video and when it was made: an upload (transcode,
captions) or one chunk of a long video's encode (chunks), whose jobs are made while the
attempt runs; several of one video may run at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol, TypeVar

from schemas.events import VideoCancelled

log = logging.getLogger(__name__)

T = TypeVar("T")


class VideoJob(Protocol):
    @property
    def video_id(self) -> str: ...

    @property
    def occurred_at(self) -> datetime: ...

    @property
    def attempt(self) -> int: ...


def cancelled_before(job: VideoJob, cancelled_at: datetime | None) -> bool:
    """Whether a cancellation at `cancelled_at` applies to `job`: it does to jobs made at or
    before it (a cancellation carries no attempt; a reprocess made after it runs)."""
    return cancelled_at is not None and job.occurred_at <= cancelled_at


class VideoJobs:
    def __init__(self) -> None:
        #: video_id -> its running jobs' tasks, each with the job it runs.
        self._running: dict[str, dict[asyncio.Task[Any], VideoJob]] = {}
        #: video_id -> when it was last cancelled; jobs older than that are skipped.
        self._cancelled: dict[str, datetime] = {}

    def cancel(self, event: VideoCancelled) -> None:
        held = self._cancelled.get(event.video_id)
        self._cancelled[event.video_id] = max(held, event.occurred_at) if held \
            else event.occurred_at
        for task, job in list(self._running.get(event.video_id, {}).items()):
            if not task.done() and cancelled_before(job, event.occurred_at):
                log.info("cancelling the running job of %s", event.video_id)
                task.cancel()

    def cancelled(self, job: VideoJob) -> bool:
        if cancelled_before(job, self._cancelled.get(job.video_id)):
            log.info("skipping attempt %s: the video was cancelled", job.attempt)
            return True
        return False

    async def run(self, job: VideoJob, work: Coroutine[Any, Any, T]) -> T | None:
        """`work`'s result, or None when a `video-cancelled` stopped it. When we are revoked
        or stopping, the job is stopped too and the CancelledError goes on."""
        task = asyncio.create_task(work)
        running = self._running.setdefault(job.video_id, {})
        running[task] = job
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                task.cancel()  # we are being revoked or stopped: stop its children as well
                await asyncio.gather(task, return_exceptions=True)
                raise
            log.info("attempt %s cancelled; its processes stopped and scratch removed",
                     job.attempt)
            return None
        finally:
            running.pop(task, None)
            if not running:
                self._running.pop(job.video_id, None)
