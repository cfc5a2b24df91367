"""The packager's Kafka/S3 shell.

Consumes `rendition-done` and `captions-done` from Kafka; emits `video-transcoded` (or
`packaging-failed`). Captions never hold a package back: they join the first package when
they came first, and make a revision of it when they came later (`captions.py`,
`captions_revision.py`).

Side effects are keyed by (video_id, attempt): the package lives under
`packages/{video_id}/{attempt}/`, `video-transcoded` has a deterministic event id, and a
`_published` marker written after the event makes a re-read of finished work a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from schemas import CONTENT_KEYS, PACKAGING_FAILED, VIDEO_TRANSCODED
from schemas.events import MediaType, RenditionDone, StageFailed, VideoTranscoded
from schemas.layout import METADATA_FILE, package_prefix, published_marker_key
from services.packager import encryption
from services.packager.assembly import Assembler, PartitionKey, RenditionSet
from services.packager.captions import HeldCaptions, has_track, track_name, vtt_words
from services.packager.captions_revision import CaptionsRevision
from services.packager.metadata import build_metadata, metadata_json
from services.packager.package import (
    PackageResult,
    PackagingFailed,
    RenditionInput,
    TextTrackInput,
    cache_control,
    content_type,
    package_renditions,
)
from services.packager.settings import PackagerSettings
from services.shared import telemetry
from services.shared.consume import Delivery, PermanentFailure
from services.shared.envelope import ContentKey, Keks, KeyUnavailable
from services.shared.events import derived_event_id, millis, now
from services.shared.media.process import run_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import FileUpload, ObjectMissing, ObjectRef, ObjectStore

log = logging.getLogger(__name__)

class PackagerWorker:
    def __init__(self, settings: PackagerSettings, producer: EventProducer,
                 store: ObjectStore) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        self.assembler = Assembler()
        self.held = HeldCaptions()
        self.revisions = CaptionsRevision(store, producer.codec)
        self.keks = Keks.from_settings(settings.common)

    # -- consume loop hooks -------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        record = delivery.record
        assert isinstance(delivery.event, RenditionDone), delivery.topic.name
        if delivery.event.media_type is MediaType.CAPTIONS:
            await self._captions_arrived(delivery.event, (record.topic, record.partition),
                                         record.offset)
            return
        ready = self.assembler.add(delivery.event, (record.topic, record.partition),
                                   record.offset)
        if ready is None:
            return
        await self._publish_package(ready)
        self.assembler.close(ready.video_id, ready.attempt)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        event = delivery.event
        assert isinstance(event, RenditionDone), delivery.topic.name
        if event.media_type is MediaType.CAPTIONS:
            return  # the video plays without them; the dead letter says why
        await self.producer.publish(PACKAGING_FAILED, StageFailed.after(
            event, stage="packaging", error_code=error.code, error_message=error.message))
        self.assembler.close(event.video_id, event.attempt)

    def commit_floor(self, tp: TopicPartition, next_offset: int) -> int:
        partition = (tp.topic, tp.partition)
        return self.held.commit_floor(partition,
                                      self.assembler.commit_floor(partition, next_offset))

    def partitions_revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assembler.forget_partition((tp.topic, tp.partition))
            self.held.forget_partition((tp.topic, tp.partition))

    # -- packaging ----------------------------------------------------------------------
    async def _publish_package(self, ready: RenditionSet) -> None:
        prefix = package_prefix(ready.video_id, ready.attempt)
        marker = self.store.ref(published_marker_key(ready.video_id, ready.attempt))
        if await asyncio.to_thread(self.store.head, marker) is not None:
            log.info("package %s already published; nothing to do", prefix)
            return
        job_dir = self.settings.job_root / f"{ready.video_id}-{ready.attempt}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        captions = self.held.peek(ready.video_id, ready.attempt)
        # An encrypted attempt gets a fresh content key, on the log (wrapped) before the
        # package is announced, so the license service knows it once players can ask.
        key, key_event = self._content_key(ready)
        try:
            with telemetry.tracer("reelflow.packager").start_as_current_span(
                "package", attributes={"reelflow.video_id": ready.video_id,
                                       "reelflow.attempt": ready.attempt}):
                event = await asyncio.to_thread(self._package, ready, job_dir, prefix,
                                                asyncio.get_running_loop(), key, captions)
            if key_event is not None:
                await self.producer.publish(CONTENT_KEYS, key_event)
            await self.producer.publish(VIDEO_TRANSCODED, event)
            # The marker holds the event: a later captions revision starts from it.
            await asyncio.to_thread(self.revisions.mark, event)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
        held = self.held.take(ready.video_id, ready.attempt)
        if held is not None and event.captions_language is None:
            await self._captions_arrived(held, ("", -1), -1)  # published now: a revision

    async def _captions_arrived(self, captions: RenditionDone, partition: PartitionKey,
                                offset: int) -> None:
        if captions.captions_only:  # a package of its own over an earlier one's segments
            reused = await asyncio.to_thread(self.revisions.reuse, captions)
            if reused is not None:
                await self.producer.publish(VIDEO_TRANSCODED, reused)
                await asyncio.to_thread(self.revisions.mark, reused)
            return
        if not has_track(captions):
            return  # no speech: the package stays as it is
        first = await asyncio.to_thread(self.revisions.first_package, captions.video_id,
                                        captions.attempt)
        if first is None:
            self.held.hold(captions, partition, offset)  # the first package will carry it
            return
        revised = await asyncio.to_thread(self.revisions.revise, first, captions)
        if revised is None:
            return
        await self.producer.publish(VIDEO_TRANSCODED, revised)
        await asyncio.to_thread(self.revisions.mark, revised)

    def _content_key(self, ready: RenditionSet) -> tuple[ContentKey | None, Any]:
        if not any(e.encryption for e in ready.received.values()):
            return None, None
        key = ContentKey.new()
        try:
            return key, encryption.content_key_event(ready.video_id, ready.attempt, key,
                                                     self.keks)
        except KeyUnavailable as exc:
            raise PermanentFailure("encryption_unavailable", str(exc)) from exc

    def _package(self, ready: RenditionSet, job_dir: Path, prefix: str,
                 loop: asyncio.AbstractEventLoop,
                 key: ContentKey | None = None,
                 captions: RenditionDone | None = None) -> VideoTranscoded:
        inputs = []
        for name, event in sorted(ready.received.items()):
            # Only the rungs and the AAC audio rendition are cut into segments; the MP3 and
            # the pictures are downloads the package merely lists.
            if event.media_type is not MediaType.VIDEO and name != "audio":
                continue
            local = job_dir / "in" / Path(ObjectRef.parse(event.uri).key).name
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.store.download(ObjectRef.parse(event.uri), local, event.sha256 or None)
            except ObjectMissing as exc:
                raise PermanentFailure("rendition_missing", str(exc)) from exc
            inputs.append(RenditionInput.from_event(event, local))
        # Shaka Packager writes an encrypted package's manifests: captions join it as a
        # revision right after (see _publish_package).
        texts = self._text_tracks(captions, job_dir) if key is None else []
        try:
            if key is not None:
                result = encryption.package_encrypted(
                    inputs, job_dir / "out", key, video_id=ready.video_id,
                    attempt=ready.attempt, segment_seconds=self.settings.segment_seconds,
                    run=encryption.shaka_runner(self.settings.common, loop))
            else:
                result = package_renditions(inputs, job_dir / "out",
                                            segment_seconds=self.settings.segment_seconds,
                                            text_tracks=texts,
                                            run_ffmpeg=self._ffmpeg_runner(loop))
        except PackagingFailed as exc:
            raise PermanentFailure("unpackageable", str(exc)) from exc
        self._upload(result, prefix)
        words = vtt_words(texts[0].path.read_text()) if texts else 0
        return self._transcoded_event(ready, result, prefix, captions if texts else None,
                                      words)

    def _text_tracks(self, captions: RenditionDone | None,
                     job_dir: Path) -> list[TextTrackInput]:
        if captions is None or not captions.language:
            return []
        local = job_dir / "captions" / "transcript.vtt"
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store.download(ObjectRef.parse(captions.uri), local, captions.sha256 or None)
        except ObjectMissing as exc:
            raise PermanentFailure("rendition_missing", str(exc)) from exc
        return [TextTrackInput(captions.language, track_name(captions.language), local)]

    def _ffmpeg_runner(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Packaging runs in a worker thread; ffmpeg still goes through the one shared
        wrapper (logging, status, terminate-then-kill), on the service's event loop."""
        def run(args: Any) -> None:
            asyncio.run_coroutine_threadsafe(run_ffmpeg(args, self.settings.common, name="package"),
                                             loop).result()
        return run

    def _upload(self, result: PackageResult, prefix: str) -> None:
        # Segments first, manifests after: a manifest never names a segment not yet stored.
        for manifests in (False, True):
            self.store.put_files([
                FileUpload(result.out_dir / f.path, self.store.ref(f"{prefix}/{f.path}"),
                           f.content_type, f.cache_control)
                for f in result.files if f.path.endswith((".m3u8", ".mpd")) is manifests])

    def _transcoded_event(self, ready: RenditionSet, result: PackageResult, prefix: str,
                          captions: RenditionDone | None = None,
                          captions_words: int = 0) -> VideoTranscoded:
        completed = now()
        downloads = {name: e.uri for name, e in ready.received.items()
                     if e.media_type is not MediaType.IMAGES}
        document = build_metadata(
            video_id=ready.video_id, attempt=ready.attempt, rendition_events=ready.received,
            package=result, package_prefix=prefix, completed_at=completed, captions=captions,
            captions_words=captions_words)
        metadata_ref = self.store.ref(f"{prefix}/{METADATA_FILE}")
        self.store.put_bytes(metadata_json(document), metadata_ref,
                             content_type(METADATA_FILE), cache_control(METADATA_FILE))
        package_uri = self.store.ref(prefix).uri
        any_event = next(iter(ready.received.values()))
        uploaded_at = any_event.uploaded_at
        latency = millis(completed) - millis(uploaded_at) if uploaded_at else None
        return VideoTranscoded(
            event_id=derived_event_id(f"{ready.video_id}/{ready.attempt}", "transcoded"),
            video_id=ready.video_id,
            occurred_at=completed,
            attempt=ready.attempt,
            package_uri=package_uri,
            hls_master_uri=f"{package_uri}/{result.master_playlist}",
            dash_manifest_uri=f"{package_uri}/{result.dash_manifest}",
            metadata_uri=metadata_ref.uri,
            duration_seconds=result.duration_seconds,
            total_bytes=result.total_bytes + sum(e.size_bytes for e in ready.received.values()),
            latency_ms=latency,
            renditions=result.event_renditions(package_uri, downloads),
            captions_language=captions.language if captions else None,
        )
