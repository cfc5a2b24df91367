"""The chunk worker's Kafka/S3 shell: `chunk-requested` in, `chunk-encoded` out.

Side effects are keyed by the chunk (video, attempt, index): its files and manifest live
under `renditions/{video_id}/{attempt}/chunks/{index}/`, and the manifest is written after
every file, so its presence means the chunk is done. The announcement's id is derived from
the job's id.

A cancelled video's chunks stop, the way transcode's jobs do (`shared.video_jobs`): a job
of an attempt uploaded before the video's latest `video-cancelled` is skipped
(acknowledged, nothing encoded, no `chunk-encoded`), and a cancellation read while one of
its chunks encodes stops that ffmpeg and removes its scratch. A chunk counts as made when
its attempt was uploaded (`uploaded_at`, chunk-requested v2), so a job the planning worker
published just after the cancel, before it read it, is skipped too. The cancellations
come from every partition of `video-cancelled` (`shared.cancellations`: a video's chunks
are spread over the group by chunk id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from schemas import CHUNK_ENCODED
from schemas.events import ChunkEncoded, ChunkOutput, ChunkRequested
from schemas.layout import CHUNK_MANIFEST, chunk_prefix
from services.chunks.settings import ChunksSettings
from services.shared import telemetry
from services.shared.consume import Delivery, PermanentFailure
from services.shared.events import derived_event_id, now
from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.probing import probe
from services.shared.media.process import run_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import (
    ChecksumMismatch,
    FileUpload,
    ObjectMissing,
    ObjectRef,
    ObjectStore,
)
from services.shared.video_jobs import VideoJobs
from services.transcode.chunked import build_chunk_encode
from services.transcode.chunking import Chunk
from services.transcode.ladder import plan_ladder
from services.transcode.profiles import get_profile

log = logging.getLogger(__name__)

_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class AttemptJob:
    """A chunk job as the cancellation rule sees it: made when its attempt was uploaded."""

    video_id: str
    attempt: int
    occurred_at: datetime

    @classmethod
    def of(cls, job: ChunkRequested) -> AttemptJob:
        return cls(job.video_id, job.attempt, job.uploaded_at or job.occurred_at)


class ChunkWorker:
    def __init__(self, settings: ChunksSettings, producer: EventProducer,
                 store: ObjectStore) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        self.name = f"{socket.gethostname()}/{os.getpid()}"
        self._source_of: tuple[str, int] | None = None
        self._facts: SourceProbe | None = None  # the probe of the source kept on disk
        self.jobs = VideoJobs()

    def sweep(self) -> None:
        """Remove scratch dirs of workers that are gone (several share one root)."""
        root = self.settings.work_root
        if root.exists():
            for leftover in root.iterdir():
                if not (leftover.name.isdigit() and Path(f"/proc/{leftover.name}").exists()):
                    shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.settings.job_root, ignore_errors=True)
        self.settings.job_root.mkdir(parents=True)

    async def handle(self, delivery: Delivery) -> None:
        job = delivery.event
        assert isinstance(job, ChunkRequested), delivery.topic.name
        if self.jobs.cancelled(AttemptJob.of(job)):
            log.info("chunk %s skipped: its video was cancelled", job.chunk_id)
            return
        await self.jobs.run(AttemptJob.of(job), self._chunk(job))

    async def _chunk(self, job: ChunkRequested) -> None:
        prefix = chunk_prefix(job.video_id, job.attempt, job.index)
        manifest = self.store.ref(f"{prefix}/{CHUNK_MANIFEST}")
        if await asyncio.to_thread(self.store.head, manifest) is not None:
            body = await asyncio.to_thread(lambda: self.store.stream(manifest)["Body"].read())
            outputs = tuple(ChunkOutput.from_record(o) for o in json.loads(body)["outputs"])
            log.info("chunk %s is a checkpoint already; announcing it again", job.chunk_id)
            await self._announce(job, outputs, 0.0, reused=True)
            return
        started = time.monotonic()
        with telemetry.tracer("reelflow.chunks").start_as_current_span(
                "encode chunk", attributes={"reelflow.chunk": job.chunk_id}):
            outputs = await self._encode(job, prefix)
        record = {"chunk_id": job.chunk_id, "outputs": [o.to_record() for o in outputs]}
        await asyncio.to_thread(self.store.put_bytes, json.dumps(record).encode(), manifest,
                                "application/json")
        await self._announce(job, outputs, time.monotonic() - started, reused=False)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        log.warning("chunk job given up: %s", error)

    async def _announce(self, job: ChunkRequested, outputs: tuple[ChunkOutput, ...],
                        seconds: float, *, reused: bool) -> None:
        await self.producer.publish(CHUNK_ENCODED, ChunkEncoded(
            event_id=derived_event_id(job.event_id, "encoded", "again" if reused else ""),
            video_id=job.video_id, occurred_at=now(), attempt=job.attempt,
            chunk_id=job.chunk_id, index=job.index, count=job.count,
            start_seconds=job.start_seconds, end_seconds=job.end_seconds,
            frame_count=job.frame_count, outputs=outputs, encode_seconds=round(seconds, 3),
            worker=self.name, reused=reused))

    async def _encode(self, job: ChunkRequested, prefix: str) -> tuple[ChunkOutput, ...]:
        source = await self._fetch_source(job)
        facts = self._facts
        if facts is None:  # probed once per source, like it is fetched once
            try:
                facts = await probe(source, self.settings.common)
            except ProbeError as exc:
                raise PermanentFailure("undecodable_source", str(exc)) from exc
            self._facts = facts
        plan = plan_ladder(facts, get_profile(job.profile), job.renditions)
        targets = tuple(t for t in plan.videos if t.name in job.renditions)
        chunk = Chunk(job.index, job.start_seconds, job.end_seconds, job.start_frame,
                      job.frame_count)
        folder = self.settings.job_root / job.chunk_id.replace("/", "-")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            encode = build_chunk_encode(source, folder, plan, facts, chunk, targets)
            log.info("encoding chunk %s (%d of %d, %.0f-%.0f s)", job.chunk_id, job.index + 1,
                     job.count, job.start_seconds, job.end_seconds)
            await run_ffmpeg(encode.args, self.settings.common, name="encode-chunk")
            # put_file hashes each file as it reads it, in the uploads' own threads.
            uploads = [FileUpload(path, self.store.ref(f"{prefix}/{path.name}"), "video/mp4",
                                  _IMMUTABLE) for path in encode.files.values()]
            stored = await asyncio.to_thread(self.store.put_files, uploads)
            return tuple(ChunkOutput(rendition=name, uri=obj.ref.uri, size_bytes=obj.size_bytes,
                                     sha256=obj.sha256)
                         for name, obj in zip(encode.files, stored, strict=True))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _fetch_source(self, job: ChunkRequested) -> Path:
        """The source on disk, kept for this video's next chunk."""
        folder = self.settings.job_root / "source"
        local = folder / "original"
        if self._source_of != (job.video_id, job.attempt) or not local.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self._source_of, self._facts = None, None
            try:
                await asyncio.to_thread(self.store.download, ObjectRef.parse(job.source_uri),
                                        local, job.source_sha256)
            except (ObjectMissing, ChecksumMismatch, ValueError) as exc:
                raise PermanentFailure("source_missing", str(exc)) from exc
            self._source_of = (job.video_id, job.attempt)
        return local
