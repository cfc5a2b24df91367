"""The scoring service's Kafka/S3 shell.

Consumes `rendition-done`; for each video rung (announced without inline quality, i.e. by a
v6 writer) it scores the rung against its source and emits `rendition-scored`, then adds
the figures to the package's `metadata.json` once the packager has published it.

Side effects are keyed by the rendition-done: the scored event's id is derived from its
id, and the metadata amendment sets one rendition's entry, so a redelivery repeats nothing.
A video's rung events share a partition, so one scorer amends a package at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path

from schemas import RENDITION_SCORED
from schemas.events import ChunkQuality, MediaType, Quality, RenditionDone, RenditionScored
from schemas.layout import metadata_key, published_marker_key
from services.scoring.aggregate import combine, spans
from services.scoring.settings import ScoringSettings
from services.shared import telemetry
from services.shared.consume import Delivery, PermanentFailure
from services.shared.events import derived_event_id, now
from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.probing import probe
from services.shared.producer import EventProducer
from services.shared.storage import ChecksumMismatch, ObjectMissing, ObjectRef, ObjectStore
from services.transcode.ladder import LadderPlan, VideoTarget, plan_ladder
from services.transcode.profiles import get_profile
from services.transcode.quality import VMAF_MODEL, Distorted, Span, score_files

log = logging.getLogger(__name__)

#: metadata.json's headers, as the packager wrote them (a short-lived manifest-like file).
_METADATA_TYPE = "application/json"
_METADATA_CACHE = "public, max-age=60"


def wants_scoring(event: RenditionDone) -> bool:
    """A video rung whose writer left the scoring to us (v6: no inline quality)."""
    return (event.media_type is MediaType.VIDEO and event.quality is None
            and bool(event.source_uri))


class ScoringWorker:
    def __init__(self, settings: ScoringSettings, producer: EventProducer,
                 store: ObjectStore) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        #: (video_id, attempt) of the source kept in `_source_dir` for the next rung.
        self._source_of: tuple[str, int] | None = None

    @property
    def _source_dir(self) -> Path:
        return self.settings.job_root / "source"

    def sweep(self) -> None:
        shutil.rmtree(self.settings.job_root, ignore_errors=True)
        self.settings.job_root.mkdir(parents=True, exist_ok=True)

    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        assert isinstance(event, RenditionDone), delivery.topic.name
        if not wants_scoring(event):
            return
        job_dir = self.settings.job_root / f"{event.video_id}-{event.attempt}-{event.rendition}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        try:
            with telemetry.tracer("reelflow.scoring").start_as_current_span(
                    "score", attributes={"reelflow.rendition": event.rendition}):
                scored = await self._score(event, job_dir)
            await self.producer.publish(RENDITION_SCORED, scored)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
        await self._amend_metadata(scored)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        log.warning("could not score %s: %s", delivery.video_id, error)

    # -- scoring ------------------------------------------------------------------------
    async def _score(self, event: RenditionDone, job_dir: Path) -> RenditionScored:
        started = time.monotonic()
        source = await self._fetch_source(event)
        rendition = job_dir / "rendition.mp4"
        await asyncio.to_thread(self._download, event.uri, rendition, event.sha256 or None)
        try:
            facts = await probe(source, self.settings.common)
        except ProbeError as exc:
            raise PermanentFailure("unscorable", f"the source does not probe: {exc}") from exc
        plan = plan_ladder(facts, get_profile(event.profile))
        files = [Distorted(_target(plan, event), rendition)]
        floor = plan.profile.vmaf_floor
        chunks: list[ChunkQuality] = []
        if event.chunk_boundaries_seconds:
            for index, start, end in spans(event.chunk_boundaries_seconds):
                report = await score_files(source, files, plan, facts, job_dir / f"q{index}",
                                           subsample=self.settings.subsample,
                                           span=Span(start, end - start),
                                           settings=self.settings.common)
                figures = report.scores[event.rendition]
                chunks.append(ChunkQuality(index=index, start_seconds=start, end_seconds=end,
                                           vmaf=figures.vmaf, psnr=figures.psnr,
                                           ssim=figures.ssim,
                                           frames_scored=figures.frames_scored))
            quality = combine(chunks, floor)
        else:
            quality = await self._whole(source, files, plan, facts, job_dir)
        return RenditionScored(
            event_id=derived_event_id(event.event_id, "scored"), video_id=event.video_id,
            occurred_at=now(), attempt=event.attempt, rendition=event.rendition,
            rendition_event_id=event.event_id, rendition_uri=event.uri,
            rendition_sha256=event.sha256, source_sha256=event.source_sha256,
            profile=event.profile, model=VMAF_MODEL.split("=", 1)[-1],
            subsample=self.settings.subsample, quality=quality, chunks=tuple(chunks),
            score_seconds=round(time.monotonic() - started, 3))

    async def _whole(self, source: Path, files: list[Distorted], plan: LadderPlan,
                     facts: SourceProbe, job_dir: Path) -> Quality:
        report = await score_files(source, files, plan, facts, job_dir / "q",
                                   subsample=self.settings.subsample,
                                   settings=self.settings.common)
        return report.scores[files[0].name].as_event()

    async def _fetch_source(self, event: RenditionDone) -> Path:
        """The source on disk, kept for the video's next rung (they arrive one after the
        other on the video's partition), so a ladder costs one download."""
        local = self._source_dir / "original"
        if self._source_of != (event.video_id, event.attempt) or not local.is_file():
            shutil.rmtree(self._source_dir, ignore_errors=True)
            self._source_dir.mkdir(parents=True)
            self._source_of = None
            assert event.source_uri is not None
            await asyncio.to_thread(self._download, event.source_uri, local,
                                    event.source_sha256)
            self._source_of = (event.video_id, event.attempt)
        return local

    def _download(self, uri: str, local: Path, sha256: str | None) -> None:
        try:
            self.store.download(ObjectRef.parse(uri), local, sha256)
        except (ObjectMissing, ChecksumMismatch, ValueError) as exc:
            raise PermanentFailure("unscorable", str(exc)) from exc

    # -- metadata.json ------------------------------------------------------------------
    async def _amend_metadata(self, scored: RenditionScored) -> None:
        """Add the figures to `quality_metrics` once the package is published (the marker
        is written after metadata.json, so the file is final then, apart from us)."""
        marker = self.store.ref(published_marker_key(scored.video_id, scored.attempt))
        deadline = time.monotonic() + self.settings.package_wait_s
        while await asyncio.to_thread(self.store.head, marker) is None:
            if time.monotonic() > deadline:
                log.warning("no package for attempt %s; metadata.json not amended",
                            scored.attempt)
                return
            await asyncio.sleep(1.0)
        ref = self.store.ref(metadata_key(scored.video_id, scored.attempt))
        document = json.loads(await asyncio.to_thread(
            lambda: self.store.stream(ref)["Body"].read()))
        document["quality_metrics"] = amended_quality(document, scored)
        body = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
        await asyncio.to_thread(self.store.put_bytes, body, ref, _METADATA_TYPE,
                                _METADATA_CACHE)


def amended_quality(document: dict, scored: RenditionScored) -> dict[str, dict[str, float]]:
    """`quality_metrics` with this rendition's figures, in the document's output order."""
    metrics = dict(document.get("quality_metrics") or {})
    q = scored.quality
    metrics[scored.rendition] = {k: v for k, v in (("vmaf", q.vmaf), ("psnr", q.psnr),
                                                   ("ssim", q.ssim)) if v is not None}
    order = list(document.get("outputs") or {})
    return dict(sorted(metrics.items(),
                       key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _target(plan: LadderPlan, event: RenditionDone) -> VideoTarget:
    """The rung as it was encoded (its size from the event: the file's own)."""
    for target in plan.videos:
        if target.name == event.rendition:
            if event.width and event.height:
                return VideoTarget(target.rung, event.width, event.height, target.level)
            return target
    raise PermanentFailure("unscorable", f"profile {event.profile!r} plans no "
                                         f"{event.rendition} for this source")
