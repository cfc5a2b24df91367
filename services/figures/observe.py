"""From a decoded pipeline event to what it adds to the figures: pure, one rule per event.

Only video-uploaded names the tenant (its `owner`); every later event of the video is
attributed through the owner the figures remembered for its video_id. Events are counted
in the window of their own `occurred_at` (event time), so a replay counts them where they
happened, not when they were read.
"""

from __future__ import annotations

from schemas import (
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.events import (
    DeadLetter,
    Record,
    RenditionDone,
    StageFailed,
    VideoCancelled,
    VideoTranscoded,
    VideoUploaded,
)
from schemas.registry import Topic
from services.figures.figures import UNKNOWN_TENANT, Contribution, Owner
from services.shared.events import millis

#: The video topics the figures read; all keyed by video_id, with one partition count.
VIDEO_TOPICS: tuple[Topic[Record], ...] = (VIDEO_UPLOADED, VIDEO_CANCELLED, RENDITION_DONE,
                                           TRANSCODE_FAILED, VIDEO_TRANSCODED,
                                           PACKAGING_FAILED)


_VIDEO_EVENTS = (VideoUploaded, VideoCancelled, RenditionDone, StageFailed, VideoTranscoded)


def video_id_of(event: Record) -> str:
    if not isinstance(event, _VIDEO_EVENTS):
        raise TypeError(f"{type(event).__name__} is not an event of a video topic")
    return event.video_id


def owner_of(upload: VideoUploaded) -> Owner:
    """The owner record a video-uploaded leaves for the video's later events."""
    return Owner(upload.owner or UNKNOWN_TENANT, millis(upload.occurred_at))


def contribution(event: Record, owner: Owner | None) -> Contribution:
    """What `event` adds to its windows; `owner` is its video's, if known."""
    tenant = owner.tenant if owner else UNKNOWN_TENANT
    match event:
        case VideoUploaded():
            return Contribution(owner_of(event).tenant, millis(event.occurred_at), accepted=1,
                                bytes_in=event.source_size_bytes or 0)
        case VideoCancelled():
            return Contribution(tenant, millis(event.occurred_at), cancelled=1)
        case RenditionDone():
            return Contribution(tenant, millis(event.occurred_at), renditions=1)
        case StageFailed():  # transcode-failed and packaging-failed alike
            return Contribution(tenant, millis(event.occurred_at), failed_code=event.error_code)
        case VideoTranscoded():
            at = millis(event.occurred_at)
            latency = event.latency_ms
            if latency is None and owner is not None:
                latency = max(at - owner.uploaded_at, 0)
            return Contribution(tenant, at, ready=1, bytes_out=event.total_bytes,
                                latency_ms=latency)
        case DeadLetter():
            return Contribution(tenant, millis(event.occurred_at),
                                dead_letter_code=event.error_code)
    raise TypeError(f"the figures do not count {type(event).__name__} events")
