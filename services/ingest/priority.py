"""Reprioritise (`PATCH /api/v1/videos/{id}` with `{"priority": 1-10}`): the body rule
and the work, without HTTP (the route is in `routes.priority`).

Only an attempt that still waits for a worker may change its priority: one that ended
(ready, failed, cancelled) or that transcode already began (ingest's ledger saw its first
`transcode-progress`) is 409 `video_not_reprioritisable`. The change is a
`video-reprioritised` event; the lane router moves the job it holds into the new
priority's lane. A job the router dispatched to a worker a moment before the event
arrived keeps its place (the answer was 202 and nothing changes, as with a late cancel).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg

from schemas import VIDEO_REPRIORITISED
from schemas.events import VideoReprioritised
from services.ingest.errors import Rejection
from services.ingest.links import video_links
from services.ingest.rework import Rework, _acknowledged, ending
from services.shared.access import Caller
from services.shared.events import new_event_id, now

log = logging.getLogger(__name__)


def parse_priority_change(raw: bytes) -> int:
    """`{"priority": n}` with n an integer 1-10."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Rejection("invalid_json", 'send a JSON object: {"priority": 1-10}', 400) from None
    if not isinstance(body, dict) or set(body) != {"priority"}:
        raise Rejection("invalid_json", 'the body must be {"priority": 1-10} and nothing else',
                        400)
    value = body["priority"]
    # JSON Schema's integer is any number without a fraction, 7.0 too (as the OpenAPI
    # document declares it); true and false are no numbers here.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise Rejection("invalid_priority", f"priority must be an integer 1-10, got {value!r}")
    return value


class Reprioritisation(Rework):
    """Rework's ledger and producer, one more change of a running attempt."""

    async def reprioritise(self, caller: Caller, video_id: str, priority: int) -> dict[str, Any]:
        standing = await self._standing(caller, video_id)
        ended = ending(standing)
        if ended is not None:
            raise Rejection("video_not_reprioritisable", f"video {video_id} is already "
                            f"{ended}; only a video waiting for a worker can change priority",
                            409)
        if standing.transcoding_since is not None:
            raise Rejection("video_not_reprioritisable", f"video {video_id} is already being "
                            "transcoded; only a video waiting for a worker can change priority",
                            409)
        event = VideoReprioritised(event_id=new_event_id(), video_id=video_id,
                                   occurred_at=now(), attempt=standing.attempt,
                                   priority=priority, previous_priority=standing.priority,
                                   requested_by=caller.name)
        await _acknowledged(self.producer.publish(
            VIDEO_REPRIORITISED, event, timeout_s=self.settings.publish_timeout_s))
        try:  # now, so a second change right behind this one reports this one as previous
            await self.ledger.record_priority(event)
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("recording the priority change of %s failed (%s); the consumer will",
                        video_id, exc)
        return {"video_id": video_id, "status": "reprioritised", "attempt": standing.attempt,
                "priority": priority, "previous_priority": standing.priority,
                "links": video_links(self.settings.catalog_url, video_id)}
