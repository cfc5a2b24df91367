"""How the long-job workers (transcode, captions, chunks) learn of cancellations: each one
follows `video-cancelled` on every partition without a group, beside its consume loop.

Not as a topic of their own group: the group's assignment decides who owns a video's
`video-cancelled` partition independently of who runs the video's job (the priority lanes
are spread by worker slot, a video's chunks by chunk id, and a group of four or more has
members that own no such partition at all), so the cancel would often be read by a member
that is not running the job. A worker reads every cancellation so far before its first job,
so a job of a video cancelled while it was down is skipped, not started and then stopped;
afterwards a cancellation stops the running jobs it applies to (`VideoJobs`). Few records:
one per cancel, re-read from the beginning at every start.
"""

from __future__ import annotations

import asyncio

from schemas import VIDEO_CANCELLED
from schemas.events import Record, VideoCancelled
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop
from services.shared.follow import follow
from services.shared.lifecycle import run_together
from services.shared.video_jobs import VideoJobs


async def run_cancellable(loop: ConsumeLoop, jobs: VideoJobs, bootstrap: str,
                          codec: EventCodec, stop: asyncio.Event) -> None:
    """Run `loop` until `stop`, once `jobs` knows every cancellation so far, and keep
    telling `jobs` of each new one."""
    def cancel(event: Record) -> None:
        assert isinstance(event, VideoCancelled), type(event).__name__
        jobs.cancel(event)

    known = asyncio.Event()
    await run_together({
        "cancellations": follow(bootstrap, VIDEO_CANCELLED, codec, cancel, known, stop),
        "jobs": _once_known(loop, known, stop)}, stop)


async def _once_known(loop: ConsumeLoop, known: asyncio.Event, stop: asyncio.Event) -> None:
    waits = [asyncio.create_task(known.wait()), asyncio.create_task(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    if not stop.is_set():
        await loop.run_until(stop)
