"""The captions stage's Kafka/S3 shell.

Consumes `video-uploaded` (a source to transcribe); emits `captions-done`. Cancellations
reach `jobs` from `video-cancelled` on every partition (`shared.cancellations`): a job
made before its video's latest cancellation is skipped, and one read mid-job stops it.

One job = one (video_id, attempt): download the source, decode its audio once to 16 kHz
mono, recognize speech, upload the four files under the attempt's `renditions/.../captions/`
prefix, then announce them. A source without audio, or audio
without speech, ends `no_speech` (empty files are still published, so the outcome is a
fact like any other).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import threading
from pathlib import Path

from schemas import CAPTIONS_DONE
from schemas.events import RenditionDone, VideoUploaded
from schemas.layout import captions_prefix
from services.captions.announce import StoredFile, captions_done, wants_captions
from services.captions.audio import decode_speech_audio
from services.captions.settings import CaptionsSettings
from services.captions.speech import Recognized, Recognizer, Stopped
from services.captions.transcript import Transcript, rendered
from services.shared import telemetry
from services.shared.consume import Delivery, PermanentFailure
from services.shared.media.errors import FfmpegError, ProbeError
from services.shared.media.probing import probe
from services.shared.producer import EventProducer
from services.shared.scratch import claim, sweep_scratch
from services.shared.storage import ChecksumMismatch, ObjectMissing, ObjectRef, ObjectStore
from services.shared.video_jobs import VideoJobs

log = logging.getLogger(__name__)

IMMUTABLE = "public, max-age=31536000, immutable"


class CaptionsWorker:
    def __init__(self, settings: CaptionsSettings, producer: EventProducer,
                 store: ObjectStore, recognizer: Recognizer) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        self.recognizer = recognizer
        self.jobs = VideoJobs()

    # -- consume loop hooks -------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        upload = delivery.event
        assert isinstance(upload, VideoUploaded), delivery.topic.name
        if not wants_captions(upload):
            return
        if self.jobs.cancelled(upload):
            return
        event = await self.jobs.run(upload, self._caption(upload))
        if event is not None:
            await self.producer.publish(CAPTIONS_DONE, event)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        """Captions never fail a video: playback does not wait for them, and the coded
        dead letter says why they are missing."""

    def sweep(self) -> None:
        """Remove scratch directories of crashed runs (live peers' jobs stay)."""
        sweep_scratch(self.settings.job_root)

    # -- the job ------------------------------------------------------------------------
    async def _caption(self, upload: VideoUploaded) -> RenditionDone:
        job_dir = self.settings.job_root / f"{upload.video_id}-{upload.attempt}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        owner = claim(job_dir)
        tracer = telemetry.tracer("reelflow.captions")
        try:
            with tracer.start_as_current_span("fetch source"):
                source = await self._fetch_source(upload, job_dir)
            with tracer.start_as_current_span("recognize speech"):
                recognized = await self._recognize(upload, source, job_dir)
            log.info("captions %s: %s, %.1f s of audio in %.1f s",
                     upload.video_id, recognized.transcript.outcome, recognized.audio_seconds,
                     recognized.processing_seconds)
            files = await asyncio.to_thread(self._upload, upload, recognized.transcript)
            return captions_done(upload, recognized.transcript, files,
                                 recognized.processing_seconds, self.settings.model_name)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
            owner.close()

    async def _fetch_source(self, upload: VideoUploaded, job_dir: Path) -> Path:
        try:
            ref = ObjectRef.parse(upload.source_uri)
        except ValueError as exc:
            raise PermanentFailure("source_missing", str(exc)) from exc
        local = job_dir / "source"
        try:
            await asyncio.to_thread(self.store.download, ref, local, upload.source_sha256)
        except ObjectMissing as exc:
            raise PermanentFailure("source_missing", str(exc)) from exc
        except ChecksumMismatch as exc:
            raise PermanentFailure("checksum_mismatch", str(exc)) from exc
        return local

    async def _recognize(self, upload: VideoUploaded, source: Path,
                         job_dir: Path) -> Recognized:
        try:
            facts = await probe(source, self.settings.common)
        except ProbeError as exc:
            raise PermanentFailure("undecodable_source", str(exc)) from exc
        if not facts.has_audio:
            return Recognized(Transcript(None, None, facts.duration), facts.duration, 0.0)
        try:
            pcm = await decode_speech_audio(source, job_dir / "audio.f32", self.settings.common,
                                            facts.duration)
        except FfmpegError as exc:
            raise PermanentFailure("undecodable_audio", str(exc)) from exc
        source.unlink()  # the samples are all the recognizer needs
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(
            self.recognizer.recognize, pcm, upload.captions_language, stop))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()  # the thread ends at its next segment; wait so scratch can go
            with contextlib.suppress(Stopped):
                await work
            raise

    def _upload(self, upload: VideoUploaded, transcript: Transcript) -> list[StoredFile]:
        prefix = captions_prefix(upload.video_id, upload.attempt)
        stored = []
        for name, content_type, body in rendered(transcript).values():
            ref = self.store.ref(f"{prefix}/{name}")
            self.store.put_bytes(body, ref, content_type, IMMUTABLE)
            stored.append(StoredFile(name, ref.uri, content_type, len(body),
                                     hashlib.sha256(body).hexdigest()))
        return stored

