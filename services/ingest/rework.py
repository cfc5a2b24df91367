"""Cancel (`DELETE /api/v1/videos/{id}`) and reprocess (`POST /api/v1/videos/{id}/reprocess`):
the body rules and the work, without HTTP (the routes are in `routes.videos`).

A tenant may only act on its own videos (another tenant's video is 404, as if unknown);
the admin key may act on any video ingest knows (from its ledger: an unknown one is 404).
Only a running attempt can be cancelled: one that ended ready, failed or cancelled is 409.

Reprocess repeats the latest submission as a new `video-uploaded` with attempt = highest
attempt + 1 (allocated under the video's row lock, so concurrent reprocesses never share a
number) and origin `reprocess`, optionally with another profile or rendition subset.
Cancelled videos may be reprocessed: cancelling stops an attempt, it does not retire the
video.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from schemas import VIDEO_CANCELLED, VIDEO_UPLOADED
from schemas.events import VideoCancelled, VideoUploaded
from services.ingest.errors import Rejection, Unavailable
from services.ingest.ledger import Ledger, Standing, locked_video, save_attempt
from services.ingest.links import video_links
from services.ingest.settings import IngestSettings
from services.ingest.validation import parse_flag, parse_language
from services.shared.access import Caller
from services.shared.events import new_event_id, now
from services.shared.producer import EventProducer

log = logging.getLogger(__name__)
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RUNG_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


#: What a reprocess body may hold.
REWORK_FIELDS = frozenset({"profile", "renditions", "captions", "captions_language",
                           "captions_only"})


def parse_rework(raw: bytes) -> dict[str, Any]:
    """`{profile?, renditions?, captions?, captions_language?, captions_only?}` (an empty
    body means: the same as last time)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Rejection("invalid_json", "send a JSON object: {profile?, renditions?}",
                        400) from None
    if not isinstance(body, dict) or set(body) - REWORK_FIELDS:
        raise Rejection("invalid_json", "the body may only hold "
                        + ", ".join(f"`{f}`" for f in sorted(REWORK_FIELDS)), 400)
    changes: dict[str, Any] = {}
    if body.get("profile") is not None:
        if not isinstance(body["profile"], str) or not PROFILE_NAME.match(body["profile"]):
            raise Rejection("invalid_profile", "profile must be a profile name such as "
                            "`default`, `hevc` or `av1`")
        changes["profile"] = body["profile"]
    if body.get("renditions") is not None:
        rungs = body["renditions"]
        if not isinstance(rungs, list) or not rungs or not all(
                isinstance(r, str) and RUNG_NAME.match(r) for r in rungs):
            raise Rejection("invalid_renditions", "renditions must be a non-empty list of "
                            "rung names such as [\"360p\", \"720p\"]")
        changes["renditions"] = rungs
    if "captions" in body:
        changes["captions"] = parse_flag(body["captions"], "captions", True)
    if "captions_language" in body:
        changes["captions_language"] = parse_language(body["captions_language"])
    # A captions-only reprocess transcribes again and keeps the video's encoded package.
    if parse_flag(body.get("captions_only"), "captions_only", False):
        if changes.get("captions") is False:
            raise Rejection("invalid_captions", "captions_only needs captions on")
        changes["captions_only"] = True
    return changes


def ending(standing: Standing) -> str | None:
    """How the video's current attempt ended (`ready`, `failed`, `cancelled`), or None
    while it runs. A cancellation carries no attempt: it ends the attempts submitted
    before it (as transcode and the catalog judge it), not a reprocess submitted after."""
    if standing.outcome is not None:
        return standing.outcome
    cancelled, started = standing.cancelled_at, standing.attempt_started_at
    if cancelled is not None and (started is None or cancelled >= started):
        return "cancelled"
    return None


class Rework:
    """Cancel and reprocess, without HTTP: the routes add the caller's key and
    Idempotency-Key around these."""

    def __init__(self, settings: IngestSettings, producer: EventProducer,
                 pool: AsyncConnectionPool, ledger: Ledger) -> None:
        self.settings = settings
        self.producer = producer
        self.pool = pool
        self.ledger = ledger

    async def cancel(self, caller: Caller, video_id: str, reason: str) -> dict[str, Any]:
        """Cancel the video's running attempt: 404 for a video that is unknown (or not the
        caller's), 409 when its current attempt already ended; neither emits anything."""
        standing = await self._standing(caller, video_id)
        ended = ending(standing)
        if ended is not None:
            raise Rejection("video_not_cancellable", f"video {video_id} is already {ended}; "
                            "only a video still being processed can be cancelled", 409)
        at = now()
        cancelled = VideoCancelled(event_id=new_event_id(), video_id=video_id, occurred_at=at,
                                   reason=reason, requested_by=caller.name)
        await _acknowledged(self.producer.publish(
            VIDEO_CANCELLED, cancelled, timeout_s=self.settings.publish_timeout_s))
        try:  # now, so a second cancel right behind this one is refused; else the consumer
            await self.ledger.record_cancellation(video_id, at)
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("recording the cancel of %s failed (%s); the consumer will",
                        video_id, exc)
        return {"video_id": video_id, "status": "cancelling",
                "links": video_links(self.settings.catalog_url, video_id)}

    async def reprocess(self, caller: Caller, video_id: str,
                        changes: dict[str, Any]) -> dict[str, Any]:
        event: VideoUploaded | None = None
        published = False
        try:
            async with self.pool.connection() as conn, conn.transaction():
                row = await locked_video(conn, video_id)
                if row is None or not caller.may_see(row["owner"]):
                    raise Rejection("video_not_found", f"no video {video_id} of yours", 404)
                # Through the class, so a submission the ledger kept is checked field by
                # field against the schema before it is published again.
                # captions_only holds for the one reprocess that asked for it.
                event = VideoUploaded.from_record({
                    **row["submission"], "captions_only": False, **changes,
                    "event_id": new_event_id(),
                    "video_id": video_id, "occurred_at": now(),
                    "attempt": row["attempt"] + 1, "owner": row["owner"],
                    "origin": "reprocess"})
                await _acknowledged(self.producer.publish(
                    VIDEO_UPLOADED, event, timeout_s=self.settings.publish_timeout_s))
                published = True
                await save_attempt(conn, event)
        except psycopg.Error as exc:
            if not published:
                raise Unavailable(f"ingest's database is unavailable ({exc}); "
                                  "retry later") from exc
            # Durable on Kafka already: ingest's own consumer records the attempt.
            log.warning("reprocess of %s published; recording it failed: %s", video_id, exc)
        assert event is not None  # published, or the transaction raised
        renditions = None if event.renditions is None else list(event.renditions)
        return {"video_id": video_id, "status": "uploaded", "attempt": event.attempt,
                "profile": event.profile, "renditions": renditions,
                "links": video_links(self.settings.catalog_url, video_id)}

    async def _standing(self, caller: Caller, video_id: str) -> Standing:
        try:
            standing = await self.ledger.standing(video_id)
        except psycopg.Error as exc:
            raise Unavailable(f"ingest's database is unavailable ({exc}); retry later") from exc
        if standing is None or not caller.may_see(standing.owner):
            raise Rejection("video_not_found", f"no video {video_id} of yours", 404)
        return standing

async def _acknowledged(sending: Awaitable[Any]) -> None:
    try:
        await sending
    except (KafkaError, TimeoutError) as exc:
        raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc
