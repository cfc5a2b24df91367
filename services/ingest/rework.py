"""Cancel (`DELETE /api/v1/videos/{id}`) and reprocess (`POST /api/v1/videos/{id}/reprocess`).

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
import uuid
from collections.abc import Awaitable
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from psycopg_pool import AsyncConnectionPool

from schemas import VIDEO_CANCELLED, VIDEO_UPLOADED
from services.ingest.errors import Rejection, Unavailable
from services.ingest.gate import Gate
from services.ingest.idempotency import fingerprint
from services.ingest.ledger import Ledger, locked_video, save_attempt
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


def _links(settings: IngestSettings, video_id: str) -> dict[str, str]:
    return {"self": f"{settings.catalog_url}/api/v1/videos/{video_id}",
            "events": f"{settings.catalog_url}/api/v1/videos/{video_id}/events"}


def rework_router(settings: IngestSettings, gate: Gate, producer: EventProducer,
                  pool: AsyncConnectionPool, ledger: Ledger) -> APIRouter:
    router = APIRouter()

    async def acknowledged(sending: Awaitable[Any]) -> None:
        try:
            await sending
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc

    async def owned(caller: Caller, video_id: str) -> None:
        try:
            known, owner = await ledger.owner_of(video_id)
        except psycopg.Error as exc:
            raise Unavailable(f"ingest's database is unavailable ({exc}); retry later") from exc
        # The admin may cancel a video ingest has not seen yet (an upstream publisher's).
        if not caller.admin and not (known and owner == caller.name):
            raise Rejection("video_not_found", f"no video {video_id} of yours", 404)

    @router.delete("/api/v1/videos/{video_id}", status_code=202)
    async def cancel_video(request: Request, video_id: uuid.UUID,
                           reason: str = "") -> Any:
        """Cancel a video: transcode stops its work, the catalog shows it cancelled."""
        async with gate.write(request) as write:
            print_ = fingerprint("DELETE", str(video_id), reason)
            if (replayed := write.replay(print_)) is not None:
                return replayed
            await owned(write.caller, str(video_id))
            cancelled = {"event_id": new_event_id(), "video_id": str(video_id),
                         "occurred_at": now(), "reason": reason,
                         "requested_by": write.caller.name}
            await acknowledged(producer.publish(VIDEO_CANCELLED, cancelled,
                                                timeout_s=settings.publish_timeout_s))
            answer = {"video_id": str(video_id), "status": "cancelling",
                      "links": _links(settings, str(video_id))}
            await gate.done(write, print_, 202, answer)
            return answer

    @router.post("/api/v1/videos/{video_id}/reprocess", status_code=202)
    async def reprocess_video(request: Request, video_id: uuid.UUID) -> Any:
        """Run a video again as a new attempt: optional JSON `{profile?, renditions?}`."""
        async with gate.write(request) as write:
            raw = await request.body()
            print_ = fingerprint("POST", f"{video_id}/reprocess", raw)
            if (replayed := write.replay(print_)) is not None:
                return replayed
            if len(raw) > 65536:
                raise Rejection("request_too_large", "the reprocess body is over 65536 bytes",
                                413)
            changes = parse_rework(raw)
            event: dict[str, Any] = {}
            published = False
            try:
                async with pool.connection() as conn, conn.transaction():
                    row = await locked_video(conn, str(video_id))
                    if row is None or not write.caller.may_see(row["owner"]):
                        raise Rejection("video_not_found", f"no video {video_id} of yours", 404)
                    event = {**row["submission"], **changes, "event_id": new_event_id(),
                             "video_id": str(video_id), "occurred_at": now(),
                             "attempt": row["attempt"] + 1, "owner": row["owner"],
                             "origin": "reprocess"}
                    await acknowledged(producer.publish(VIDEO_UPLOADED, event,
                                                        timeout_s=settings.publish_timeout_s))
                    published = True
                    await save_attempt(conn, event)
            except psycopg.Error as exc:
                if not published:
                    raise Unavailable(f"ingest's database is unavailable ({exc}); "
                                      "retry later") from exc
                # Durable on Kafka already: ingest's own consumer records the attempt.
                log.warning("reprocess of %s published; recording it failed: %s", video_id, exc)
            answer = {"video_id": str(video_id), "status": "uploaded",
                      "attempt": event["attempt"], "profile": event.get("profile"),
                      "renditions": event.get("renditions"), "links": _links(settings,
                                                                             str(video_id))}
            await gate.done(write, print_, 202, answer)
            return answer

    return router
