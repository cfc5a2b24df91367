"""Accepting a source already stored in `sources/{video_id}/original`: probe it by content,
judge it by the pipeline's content rules, store its custom thumbnail, publish
`video-uploaded`, record it in the ledger, and answer. Shared by upload and import, so
both refuse the same things the same way; a plain class, so a test can submit without HTTP.

A refusal (or any other failure) deletes every object the submission created, so nothing
is left behind and nothing is referenced; a `202` answer means the event is durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from schemas import VIDEO_UPLOADED, layout
from schemas.events import SourceInfo, VideoUploaded
from services.ingest.errors import Rejection, Unavailable
from services.ingest.ledger import Ledger
from services.ingest.links import video_links
from services.ingest.protection import parse_protection, tenant_default
from services.ingest.settings import IngestSettings
from services.ingest.validation import CaptionsRequest, source_info, thumbnail_kind
from services.shared.events import new_event_id, now
from services.shared.media import probing
from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.producer import EventProducer
from services.shared.storage import ObjectRef, ObjectStore, StorageError, StoredObject

log = logging.getLogger(__name__)

ACCEPTED = Counter("reelflow_ingest_accepted_total", "Accepted videos", ["origin"])
BYTES_IN = Counter("reelflow_ingest_bytes_total", "Source bytes stored")

_REFUSALS = {
    "not_media": "the upload is not a video or audio file FFmpeg can read",
    "no_streams": "the upload has no video or audio stream",
    "no_duration": "the upload has no usable duration",
    "undecodable": "the upload is corrupt: its first video frames do not decode",
}


@dataclass(frozen=True)
class Candidate:
    """A source stored durably under `source`, with what its submitter asked for."""

    video_id: str
    source: ObjectRef
    stored: StoredObject
    filename: str | None
    metadata: dict[str, Any]
    priority: int
    owner: str
    origin: str  # "upload" | "import"
    thumbnail: bytes | None = None
    playback_policy: str = "public"
    encryption: str | None = None
    captions: CaptionsRequest = CaptionsRequest()


class Submission:
    def __init__(self, settings: IngestSettings, producer: EventProducer, store: ObjectStore,
                 ledger: Ledger) -> None:
        self.settings = settings
        self.producer = producer
        self.store = store
        self.ledger = ledger

    async def accept(self, candidate: Candidate) -> dict[str, Any]:
        """The `202` answer once `video-uploaded` is durable; else a coded refusal or
        `Unavailable`, with every object of the candidate deleted."""
        created = [candidate.source]
        try:
            return await self._accept(candidate, created)
        except BaseException:
            await self.discard(*created)
            raise

    def protection(self, tenant: str, policy: str | None,
                   encryption: str | None) -> tuple[str, str | None]:
        """What a submission asked of playback protection, with the tenant's default."""
        default = tenant_default(tenant, self.settings.tenant_playback_policies,
                                 self.settings.default_playback_policy)
        return parse_protection(policy, encryption, default)

    async def discard(self, *refs: ObjectRef) -> None:
        for ref in refs:
            await asyncio.to_thread(self._forget, ref)

    async def _accept(self, c: Candidate, created: list[ObjectRef]) -> dict[str, Any]:
        probe = await self._probe(self.store.presigned_get(c.source))
        thumbnail_uri = None
        if c.thumbnail is not None:
            ext, content_type = thumbnail_kind(c.thumbnail, self.settings.max_thumbnail_bytes)
            ref = self.store.ref(layout.thumbnail_key(c.video_id, ext))
            created.append(ref)
            await asyncio.to_thread(self.store.put_bytes, c.thumbnail, ref, content_type)
            thumbnail_uri = ref.uri
        size, sha256 = c.stored.size_bytes, c.stored.sha256
        event = VideoUploaded(
            event_id=new_event_id(), video_id=c.video_id, occurred_at=now(),
            source_uri=c.source.uri, attempt=1, source_sha256=sha256,
            source_size_bytes=size, source_filename=c.filename,
            source_info=SourceInfo.from_record(source_info(probe)),
            user_metadata_json=json.dumps(c.metadata), priority=c.priority,
            custom_thumbnail_uri=thumbnail_uri, origin=c.origin, owner=c.owner,
            playback_policy=c.playback_policy, encryption=c.encryption,
            **c.captions.fields(),
        )
        try:
            await self.producer.publish(VIDEO_UPLOADED, event,
                                        timeout_s=self.settings.publish_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); nothing was kept, "
                              "retry later") from exc
        log.info("accepted %s by %s (%d bytes, %s)", c.video_id, c.origin, size,
                 probe.container)
        ACCEPTED.labels(c.origin).inc()
        BYTES_IN.inc(size)
        await self._record(event)
        return {
            "video_id": c.video_id,
            "status": "uploaded",
            "attempt": 1,
            "priority": c.priority,
            "playback_policy": c.playback_policy,
            "encryption": c.encryption,
            "captions": c.captions.captions,
            "captions_language": c.captions.language,
            "source": {"uri": c.source.uri, "size_bytes": size, "sha256": sha256},
            "links": video_links(self.settings.catalog_url, c.video_id),
        }

    async def _record(self, event: VideoUploaded) -> None:
        """Into ingest's ledger now, so a reprocess right after this answer finds the video.
        Best effort: the event is durable, and ingest's consumer records it anyway."""
        try:
            await self.ledger.record(event)
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("recording %s in the ledger failed (%s); the consumer will",
                        event.video_id, exc)

    async def _probe(self, url: str) -> SourceProbe:
        """The pipeline's content rules (`services.shared.media.rules`), as transcode applies
        them too, refused early with their codes."""
        try:
            # One ffprobe run probes and decodes the first frames; the separate decode
            # check runs only when that leaves a doubt (`probing.decoded_in_probe`).
            probe = await probing.inspect_source(url, self.settings.common,
                                                 self.settings.source_limits, one_run=True)
        except ProbeError as exc:
            if exc.returncode is not None and exc.returncode < 0:
                # Killed by a signal (out of memory, an operator, its fork server ending):
                # that says nothing about the upload, so it is not refused for it.
                raise Unavailable(f"the content check was interrupted ({exc.code}, signal "
                                  f"{-exc.returncode}); nothing was kept, retry later"
                                  ) from exc
            raise Rejection(exc.code, _REFUSALS.get(exc.code, str(exc))) from exc
        return probe

    def _forget(self, ref: ObjectRef) -> None:
        try:
            self.store.delete(ref)
        except StorageError:
            log.exception("could not delete refused object %s", ref.uri)
