"""The transcode service's Kafka/S3 shell.

Consumes `video-uploaded` from Kafka (through a priority lane or directly); emits
`rendition-done`, `transcode-progress` and `transcode-failed`. Cancellations reach `jobs`
from `video-cancelled` on every partition (`shared.cancellations`): a job made before its
video's latest cancellation is skipped, and one read mid-job stops it.

One job = one (video_id, attempt). Its scratch files live in a per-job directory that is
removed on success, failure and cancel; its outputs go to attempt-scoped keys and become
visible only through the `rendition-done` events, which are written after every upload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from schemas import RENDITION_DONE, TRANSCODE_FAILED, TRANSCODE_PROGRESS
from schemas.events import Artifact, StageFailed, VideoUploaded
from schemas.layout import rendition_prefix
from services.shared import telemetry
from services.shared.consume import Delivery, PermanentFailure
from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.probing import inspect_source
from services.shared.media.rules import RULE_CODES
from services.shared.producer import EventProducer
from services.shared.scratch import claim as _claim
from services.shared.scratch import sweep_scratch
from services.shared.source_facts import source_info
from services.shared.storage import (
    ChecksumMismatch,
    FileUpload,
    ObjectMissing,
    ObjectRef,
    ObjectStore,
    StoredObject,
)
from services.shared.video_jobs import VideoJobs
from services.transcode.chunked_job import ChunkedEncode
from services.transcode.chunking import boundaries, plan_chunks
from services.transcode.encode import EncodedOutput, EncodeResult, encode_all
from services.transcode.errors import (
    SourceChecksumMismatch,
    SourceMissing,
    SourceRefused,
    UndecodableSource,
)
from services.transcode.handlers import (
    MeasuredSource,
    StoredOutput,
    progress_event,
    rendition_done_events,
)
from services.transcode.ladder import plan_ladder
from services.transcode.profiles import get_profile
from services.transcode.settings import TranscodeSettings

log = logging.getLogger(__name__)
#: Renditions are never rewritten in place: a new attempt writes new keys.
_IMMUTABLE = "public, max-age=31536000, immutable"


class TranscodeWorker:
    def __init__(self, settings: TranscodeSettings, producer: EventProducer,
                 store: ObjectStore) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        self.jobs = VideoJobs()

    # -- consume loop hooks -------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        upload = delivery.event
        assert isinstance(upload, VideoUploaded), delivery.topic.name
        if upload.captions_only:
            log.info("attempt %s asks for captions only: nothing to encode", upload.attempt)
            return
        if not self.jobs.cancelled(upload):
            await self.jobs.run(upload, self._transcode(upload))

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        if not isinstance(delivery.event, VideoUploaded):
            return
        await self.producer.publish(TRANSCODE_FAILED, StageFailed.after(
            delivery.event, stage="transcode", error_code=error.code,
            error_message=error.message))

    def sweep(self) -> None:
        """Remove scratch directories a crashed run left behind.

        Several workers may share one root (one host, one state dir), so a directory whose
        owner lock is still held belongs to a live peer's running job and is left alone; the
        kernel drops a dead worker's lock, however it died.
        """
        sweep_scratch(self.settings.job_root)

    # -- the job ------------------------------------------------------------------------
    async def _transcode(self, upload: VideoUploaded) -> None:
        job_dir = self.settings.job_root / f"{upload.video_id}-{upload.attempt}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        owner = _claim(job_dir)
        tracer = telemetry.tracer("reelflow.transcode")
        try:
            with tracer.start_as_current_span("fetch source"):
                source, sha256 = await self._fetch_source(upload, job_dir)
            facts = await self._probe(source)
            measured = MeasuredSource(sha256, source.stat().st_size, source_info(facts))
            profile = get_profile(upload.profile or self.settings.default_profile)
            plan = plan_ladder(facts, profile, upload.renditions)
            report = _ProgressReporter(self, upload)
            chunks = plan_chunks(facts.video_duration, plan.frame_rate,
                                 threshold_s=self.settings.chunk_threshold_s,
                                 chunk_s=self.settings.chunk_seconds,
                                 segment_s=self.settings.segment_seconds) \
                if plan.videos and plan.frame_rate else ()
            with tracer.start_as_current_span("ffmpeg encode",
                                              attributes={"reelflow.outputs": plan.outputs,
                                                          "reelflow.chunks": len(chunks)}):
                if chunks:  # split and stitch: group `chunks` encodes the rungs
                    result = await ChunkedEncode(self.settings, self.producer, self.store).run(
                        upload, source, sha256, facts, plan, chunks, job_dir / "chunked",
                        report.callback("encode"))
                else:
                    result = await encode_all(source, job_dir / "out", plan, facts,
                                              report.callback("encode"),
                                              settings=self.settings.common)
            # No scoring here: the `scoring` group measures each rung after the video is
            # playable (rendition-scored), so VMAF no longer delays playback.
            with tracer.start_as_current_span("upload outputs"):
                stored = await asyncio.to_thread(self._upload, upload, result)
            events = rendition_done_events(upload, measured, stored, plan.profile.name,
                                           plan.keyframe_interval_s or 0.0,
                                           result.encode_seconds, plan.tone_map_from,
                                           boundaries(chunks))
            for event in events:
                await self.producer.publish(RENDITION_DONE, event)
            await report.publish("done", 100.0)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
            owner.close()

    async def _fetch_source(self, upload: VideoUploaded, job_dir: Path) -> tuple[Path, str]:
        """The source in `job_dir`, and its SHA-256 (checked against the event's, if any)."""
        try:
            ref = ObjectRef.parse(upload.source_uri)
        except ValueError as exc:
            raise SourceMissing(str(exc)) from exc
        local = job_dir / "source"
        try:
            sha256 = await asyncio.to_thread(self.store.download, ref, local,
                                             upload.source_sha256)
        except ObjectMissing as exc:
            raise SourceMissing(str(exc)) from exc
        except ChecksumMismatch as exc:
            raise SourceChecksumMismatch(str(exc)) from exc
        return local, sha256

    async def _probe(self, source: Path) -> SourceProbe:
        """The pipeline's content rules, for every source: one published by an upstream
        service never met ingest's checks."""
        try:
            return await inspect_source(source, self.settings.common, self.settings.source_limits)
        except ProbeError as exc:
            if exc.returncode is not None and exc.returncode < 0:
                # Killed by a signal (the OOM killer, a stop of the service's process
                # group): that says nothing about the source, so the attempt is retried,
                # as a killed encode is, instead of failing the video as undecodable.
                raise
            if exc.code in RULE_CODES:
                raise SourceRefused(exc.code, exc.message) from exc
            raise UndecodableSource(f"the source is not usable media: {exc}") from exc

    def _upload(self, upload: VideoUploaded, result: EncodeResult) -> list[StoredOutput]:
        prefix = rendition_prefix(upload.video_id, upload.attempt)
        files = [FileUpload(o.path, self.store.ref(f"{prefix}/{o.path.name}"), o.content_type,
                            _IMMUTABLE, o.sha256) for o in result.outputs]
        pictures = [FileUpload(a.path, self.store.ref(f"{prefix}/thumbnails/{a.path.name}"),
                               a.content_type, _IMMUTABLE, a.sha256)
                    for o in result.outputs for a in o.artifacts]
        put = self.store.put_files(files + pictures)  # all at once, in this order
        put_pictures = iter(put[len(files):])
        stored = []
        for output, obj in zip(result.outputs, put[:len(files)], strict=True):
            artifacts = tuple(_artifact(a, next(put_pictures)) for a in output.artifacts)
            stored.append(_stored(output, obj.ref.uri, artifacts))
        custom = upload.custom_thumbnail_uri
        if custom:
            stored = [self._with_custom_thumbnail(prefix, o, custom)
                      if o.media_type == "IMAGES" else o for o in stored]
        return stored

    def _with_custom_thumbnail(self, prefix: str, pictures: StoredOutput,
                               custom_uri: str) -> StoredOutput:
        """The uploader's own thumbnail becomes the primary picture; the automatic ones stay."""
        source = ObjectRef.parse(custom_uri)
        name = f"thumb_custom{Path(source.key).suffix}"
        target = self.store.ref(f"{prefix}/thumbnails/{name}")
        try:
            self.store.copy(source, target)
        except ObjectMissing:
            log.warning("custom thumbnail %s is gone; keeping the automatic poster", custom_uri)
            return pictures
        head = self.store.head(target) or {}
        content_type = str(head.get("ContentType") or "image/jpeg")
        size = int(head.get("ContentLength") or 0)
        digest = hashlib.sha256(self.store.stream(target)["Body"].read()).hexdigest()
        artifact = Artifact(name=name, uri=target.uri, content_type=content_type,
                            size_bytes=size, sha256=digest)
        return dataclasses.replace(pictures, uri=target.uri, size_bytes=size, sha256=digest,
                                   artifacts=(artifact, *pictures.artifacts))



def _artifact(picture: Any, obj: StoredObject) -> Artifact:
    return Artifact(name=picture.name, uri=obj.ref.uri, content_type=picture.content_type,
                    size_bytes=obj.size_bytes, sha256=obj.sha256)


def _stored(output: EncodedOutput, uri: str, artifacts: tuple[Artifact, ...]) -> StoredOutput:
    return StoredOutput(encoded=output, uri=uri, size_bytes=output.size_bytes,
                        sha256=output.sha256, quality=None, artifacts=artifacts)


class _ProgressReporter:
    """Turns ffmpeg's progress callbacks into throttled `transcode-progress` events."""

    def __init__(self, worker: TranscodeWorker, upload: VideoUploaded) -> None:
        self._worker = worker
        self._upload = upload
        self._last = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    def callback(self, stage: str) -> Any:
        def on_progress(fraction: float) -> None:
            moment = time.monotonic()
            if moment - self._last < self._worker.settings.progress_interval_s:
                return
            self._last = moment
            task = asyncio.get_running_loop().create_task(self.publish(stage, fraction * 100))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return on_progress

    async def publish(self, stage: str, percent: float) -> None:
        try:
            await self._worker.producer.publish(TRANSCODE_PROGRESS,
                                                progress_event(self._upload, stage, percent))
        except Exception:  # progress is informational; losing one changes nothing
            log.warning("could not publish progress", exc_info=True)

