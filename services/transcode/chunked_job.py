"""Split and stitch, the transcode side: the worker that took a long video's
`video-uploaded` plans its chunks, deals them out as `chunk-requested` jobs to group
`chunks` (one per partition first, then the next one to each partition whose chunk came
back: `chunking.Dealing`), encodes the whole video's audio and thumbnails itself meanwhile,
waits for every chunk's `chunk-encoded` checkpoint, and stitches each rung from its chunks
(stream copy).

What comes out is the same `EncodeResult` an unchunked encode gives, so uploads,
`rendition-done` and the packager need nothing new. A redo after a crash publishes the same
jobs again (same event ids); chunk workers answer a chunk whose checkpoint exists by
announcing it again without encoding, so only unfinished chunks cost anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import TopicPartition

from schemas import CHUNK_ENCODED, CHUNK_REQUESTED
from schemas.events import ChunkEncoded, ChunkOutput, ChunkRequested, VideoUploaded
from services.shared.consumers import new_consumer, stop_quietly
from services.shared.events import derived_event_id, now
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.process import run_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectRef, ObjectStore
from services.transcode import chunked
from services.transcode import thumbnails as thumbs
from services.transcode.chunking import Chunk, Dealing
from services.transcode.encode import THUMBNAIL_DIR, EncodeJob, EncodeResult, describe_outputs
from services.transcode.ladder import LadderPlan
from services.transcode.settings import TranscodeSettings

log = logging.getLogger(__name__)


def chunk_requests(upload: VideoUploaded, source_sha256: str, plan: LadderPlan,
                   chunks: tuple[Chunk, ...]) -> list[ChunkRequested]:
    """The jobs of one chunked attempt (deterministic ids: a redo repeats them). Pure."""
    rungs = tuple(t.name for t in plan.videos)
    return [ChunkRequested(
        event_id=derived_event_id(upload.event_id, "chunk", c.index), video_id=upload.video_id,
        occurred_at=now(), attempt=upload.attempt,
        chunk_id=c.chunk_id(upload.video_id, upload.attempt), index=c.index, count=len(chunks),
        start_seconds=c.start_s, end_seconds=c.end_s, start_frame=c.start_frame,
        frame_count=c.frame_count, source_uri=upload.source_uri, source_sha256=source_sha256,
        profile=plan.profile.name, renditions=rungs, upload_event_id=upload.event_id,
        uploaded_at=upload.occurred_at,
    ) for c in chunks]


class ChunkWatcher:
    """Reads `chunk-encoded` (no group: every partition, from the log end at start) and
    collects the checkpoints of one attempt."""

    def __init__(self, settings: TranscodeSettings, producer: EventProducer,
                 upload: VideoUploaded, count: int) -> None:
        self._consumer = new_consumer(settings.common.kafka_bootstrap)
        self._codec = producer.codec
        self._key = (upload.video_id, upload.attempt)
        self._count = count
        self.done: dict[int, ChunkEncoded] = {}

    async def start(self) -> None:
        await self._consumer.start()
        parts = [TopicPartition(CHUNK_ENCODED.name, p) for p in range(CHUNK_ENCODED.partitions)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end now, before any job of ours can be answered
            await self._consumer.position(tp)

    async def wait(self, on_progress: Callable[[float], None] | None,
                   on_chunk: Callable[[int], Awaitable[None]]) -> dict[int, ChunkEncoded]:
        """Every chunk's checkpoint; `on_chunk(index)` runs once per chunk as it comes."""
        while len(self.done) < self._count:
            batches = await self._consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    event = self._codec.decode(CHUNK_ENCODED, record.value)
                    if (event.video_id, event.attempt) == self._key \
                            and event.index not in self.done:
                        self.done[event.index] = event
                        await on_chunk(event.index)
            if on_progress is not None:
                on_progress(len(self.done) / self._count)
        return self.done

    async def stop(self) -> None:
        await stop_quietly(self._consumer)


class ChunkedEncode:
    def __init__(self, settings: TranscodeSettings, producer: EventProducer,
                 store: ObjectStore) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store

    async def run(self, upload: VideoUploaded, source: Path, source_sha256: str,
                  facts: SourceProbe, plan: LadderPlan, chunks: tuple[Chunk, ...],
                  workdir: Path, on_progress: Callable[[float], None] | None = None,
                  ) -> EncodeResult:
        started = time.monotonic()
        common = self.settings.common
        whole = chunked.build_whole_video(source, workdir / "whole", plan, facts)
        (workdir / "whole" / THUMBNAIL_DIR / thumbs.TILE_DIR).mkdir(parents=True, exist_ok=True)
        watcher = ChunkWatcher(self.settings, self.producer, upload, len(chunks))
        requests = chunk_requests(upload, source_sha256, plan, chunks)
        dealing = Dealing(chunks, CHUNK_REQUESTED.partitions,
                          upfront=self.settings.chunk_dealing == "upfront")

        async def deal(job: tuple[Chunk, int] | None) -> None:
            if job is not None:
                await self.producer.publish(CHUNK_REQUESTED, requests[job[0].index],
                                            partition=job[1])

        # Each chunk's files are fetched as its checkpoint arrives, while later chunks still
        # encode: after the last one only its own files and the stitch are left to wait for.
        fetched: dict[tuple[int, str], asyncio.Task[Path]] = {}
        rungs = {target.name for target in plan.videos}

        async def arrived(index: int) -> None:
            await deal(dealing.after(index))
            for output in watcher.done[index].outputs:
                if output.rendition in rungs:
                    fetched[(index, output.rendition)] = asyncio.create_task(
                        self._fetch(output, workdir / "stitch" / output.rendition, index))

        await watcher.start()
        waiting = None
        try:
            for job in dealing.opening():
                await deal(job)
            log.info("%d of %d chunk jobs published (%s); encoding audio and thumbnails",
                     len(dealing.out), len(chunks), self.settings.chunk_dealing)
            # The chunks come back while the whole video encodes: the next jobs go out then.
            waiting = asyncio.create_task(watcher.wait(on_progress, arrived))
            await run_ffmpeg(whole.args, common, name="encode-whole")
            announced = await waiting
            log.info("every chunk is in (%d reused); stitching",
                     sum(e.reused for e in announced.values()))
            files = dict(whole.files)
            parts = {t.name: [await fetched[(c.index, t.name)] for c in chunks]
                     for t in plan.videos}
            stitched_rungs = await asyncio.gather(*(
                self._stitch(t.name, parts[t.name], whole.files.get(chunked.rung_audio_key(t)),
                             workdir / "stitch") for t in plan.videos))
            files.update(zip((t.name for t in plan.videos), stitched_rungs, strict=True))
        finally:
            if waiting is not None and not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            for task in fetched.values():
                task.cancel()
            await asyncio.gather(*fetched.values(), return_exceptions=True)
            await watcher.stop()
        stitched = EncodeJob([], {k: v for k, v in files.items()
                                  if not k.startswith("rung-audio")}, whole.thumbnails)
        outputs = await describe_outputs(stitched, plan, facts, common)
        return EncodeResult(outputs, time.monotonic() - started, f"chunked x{len(chunks)}")

    async def _fetch(self, output: ChunkOutput, folder: Path, index: int) -> Path:
        """One chunk's file of one rung, on disk and checked against its checkpoint's hash."""
        folder.mkdir(parents=True, exist_ok=True)
        local = folder / f"{index:05d}.mp4"
        await asyncio.to_thread(self.store.download, ObjectRef.parse(output.uri), local,
                                output.sha256 or None)
        return local

    async def _stitch(self, rendition: str, parts: list[Path], audio: Path | None,
                      workdir: Path) -> Path:
        folder = workdir / rendition
        listing = folder / "chunks.txt"
        listing.write_text(chunked.concat_list(parts))
        out = workdir / f"{rendition}.mp4"
        await run_ffmpeg(chunked.stitch_args(listing, audio, out), self.settings.common,
                         name="stitch")
        for part in parts:
            part.unlink()
        return out
