"""From a decoded pipeline event to what it adds to the figures: pure, one rule per topic.

Only video-uploaded names the tenant (its `owner`); every later event of the video is
attributed through the owner the figures remembered for its video_id. Events are counted
in the window of their own `occurred_at` (event time), so a replay counts them where they
happened, not when they were read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import (
    DEAD_LETTER,
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.registry import Topic
from services.figures.figures import UNKNOWN_TENANT, Contribution, Owner

#: The video topics the figures read; all keyed by video_id, with one partition count.
VIDEO_TOPICS: tuple[Topic, ...] = (VIDEO_UPLOADED, VIDEO_CANCELLED, RENDITION_DONE,
                                   TRANSCODE_FAILED, VIDEO_TRANSCODED, PACKAGING_FAILED)


def _get(event: Any, name: str) -> Any:
    # Decoded events are dicts today and typed event classes once schemas/events.py lands.
    return event.get(name) if isinstance(event, Mapping) else getattr(event, name, None)


def _millis(value: Any) -> int:
    # fastavro reads timestamp-millis as an aware datetime; typed events may keep ints.
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


def video_id_of(event: Any) -> str:
    return str(_get(event, "video_id"))


def owner_of(event: Any) -> Owner:
    """The owner record a video-uploaded leaves for the video's later events."""
    return Owner(_get(event, "owner") or UNKNOWN_TENANT, _millis(_get(event, "occurred_at")))


def contribution(topic: str, event: Any, owner: Owner | None) -> Contribution:
    """What `event` (read from `topic`) adds to its windows; `owner` is the video's, if known."""
    at = _millis(_get(event, "occurred_at"))
    tenant = owner.tenant if owner else UNKNOWN_TENANT
    if topic == VIDEO_UPLOADED.name:
        return Contribution(owner_of(event).tenant, at, accepted=1,
                            bytes_in=_get(event, "source_size_bytes") or 0)
    if topic == VIDEO_CANCELLED.name:
        return Contribution(tenant, at, cancelled=1)
    if topic == RENDITION_DONE.name:
        return Contribution(tenant, at, renditions=1)
    if topic in (TRANSCODE_FAILED.name, PACKAGING_FAILED.name):
        return Contribution(tenant, at, failed_code=_get(event, "error_code"))
    if topic == VIDEO_TRANSCODED.name:
        latency = _get(event, "latency_ms")
        if latency is None and owner is not None:
            latency = max(at - owner.uploaded_at, 0)
        return Contribution(tenant, at, ready=1, bytes_out=_get(event, "total_bytes") or 0,
                            latency_ms=latency)
    if topic == DEAD_LETTER.name:
        return Contribution(tenant, at, dead_letter_code=_get(event, "error_code"))
    raise KeyError(f"the figures do not read {topic}")
