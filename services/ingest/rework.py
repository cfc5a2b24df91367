"""Cancel (`DELETE /api/v1/videos/{id}`) and reprocess (`POST /api/v1/videos/{id}/reprocess`):
the body rules and the work, without HTTP (the routes are in `routes.videos`).

A tenant may only act on its own videos (another tenant's video is 404, as if unknown);
the admin key may act on any. Reprocess repeats the latest submission as a new
`video-uploaded` with attempt = highest attempt + 1 (allocated under the video's row lock,
so concurrent reprocesses never share a number) and origin `reprocess`, optionally with
another profile or rendition subset. Cancelled videos may be reprocessed: cancelling stops
an attempt, it does not retire the video.
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
from services.ingest.errors import Rejection, Unavailable
from services.ingest.ledger import Ledger, locked_video, save_attempt
from services.ingest.links import video_links
from services.ingest.settings import IngestSettings
from services.shared.access import Caller
from services.shared.events import new_event_id, now
from services.shared.producer import EventProducer

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_RUNG = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def parse_rework(raw: bytes) -> dict[str, Any]:
    """`{profile?, renditions?}` (an empty body means: the same as last time)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Rejection("invalid_json", "send a JSON object: {profile?, renditions?}",
                        400) from None
    if not isinstance(body, dict) or set(body) - {"profile", "renditions"}:
        raise Rejection("invalid_json", "the body may only hold `profile` and `renditions`",
                        400)
    changes: dict[str, Any] = {}
    if body.get("profile") is not None:
        if not isinstance(body["profile"], str) or not _NAME.match(body["profile"]):
            raise Rejection("invalid_profile", "profile must be a profile name such as "
                            "`default`, `hevc` or `av1`")
        changes["profile"] = body["profile"]
    if body.get("renditions") is not None:
        rungs = body["renditions"]
        if not isinstance(rungs, list) or not rungs or not all(
                isinstance(r, str) and _RUNG.match(r) for r in rungs):
            raise Rejection("invalid_renditions", "renditions must be a non-empty list of "
                            "rung names such as [\"360p\", \"720p\"]")
        changes["renditions"] = rungs
    return changes


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
        await self._owned(caller, video_id)
        cancelled = {"event_id": new_event_id(), "video_id": video_id, "occurred_at": now(),
                     "reason": reason, "requested_by": caller.name}
        await _acknowledged(self.producer.publish(
            VIDEO_CANCELLED, cancelled, timeout_s=self.settings.publish_timeout_s))
        return {"video_id": video_id, "status": "cancelling",
                "links": video_links(self.settings.catalog_url, video_id)}

    async def reprocess(self, caller: Caller, video_id: str,
                        changes: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {}
        published = False
        try:
            async with self.pool.connection() as conn, conn.transaction():
                row = await locked_video(conn, video_id)
                if row is None or not caller.may_see(row["owner"]):
                    raise Rejection("video_not_found", f"no video {video_id} of yours", 404)
                event = {**row["submission"], **changes, "event_id": new_event_id(),
                         "video_id": video_id, "occurred_at": now(),
                         "attempt": row["attempt"] + 1, "owner": row["owner"],
                         "origin": "reprocess"}
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
        return {"video_id": video_id, "status": "uploaded", "attempt": event["attempt"],
                "profile": event.get("profile"), "renditions": event.get("renditions"),
                "links": video_links(self.settings.catalog_url, video_id)}

    async def _owned(self, caller: Caller, video_id: str) -> None:
        try:
            known, owner = await self.ledger.owner_of(video_id)
        except psycopg.Error as exc:
            raise Unavailable(f"ingest's database is unavailable ({exc}); retry later") from exc
        # The admin may cancel a video ingest has not seen yet (an upstream publisher's).
        if not caller.admin and not (known and owner == caller.name):
            raise Rejection("video_not_found", f"no video {video_id} of yours", 404)


async def _acknowledged(sending: Awaitable[Any]) -> None:
    try:
        await sending
    except (KafkaError, TimeoutError) as exc:
        raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc
