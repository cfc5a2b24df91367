"""Pure: which webhook a pipeline event is, and its id.

A webhook's id derives from its source event's id, so a redelivery, a retry and a replay
from the log all carry the same `webhook-id` and a receiver can dedupe on it. Progress is
sent at most once per stage step (a quarter of the stage): the first progress event that
reaches a step is that step's webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import (
    CAPTIONS_DONE,
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.events import Record, RenditionDone, TranscodeProgress
from schemas.ids import derived_event_id

UPLOADED, PROCESSING, READY = "video.uploaded", "video.processing", "video.ready"
FAILED, CANCELLED = "video.failed", "video.cancelled"
RENDITION_READY, CAPTIONS_READY = "video.rendition_ready", "video.captions_ready"
TEST = "webhook.test"
#: Every type an endpoint may filter on (the test event is sent whatever the filter).
TYPES = (UPLOADED, PROCESSING, READY, FAILED, CANCELLED, RENDITION_READY, CAPTIONS_READY)
#: Percent per progress step: at most 100 / STEP_PERCENT + 1 webhooks per stage.
STEP_PERCENT = 25

#: The pipeline topics whose events are webhooks: what the dispatcher's group reads and a
#: replay re-reads.
SOURCES = (VIDEO_UPLOADED, TRANSCODE_PROGRESS, RENDITION_DONE, CAPTIONS_DONE,
           VIDEO_TRANSCODED, TRANSCODE_FAILED, PACKAGING_FAILED, VIDEO_CANCELLED)

_BY_TOPIC = {VIDEO_UPLOADED.name: UPLOADED, VIDEO_TRANSCODED.name: READY,
             TRANSCODE_FAILED.name: FAILED, PACKAGING_FAILED.name: FAILED,
             VIDEO_CANCELLED.name: CANCELLED, TRANSCODE_PROGRESS.name: PROCESSING,
             RENDITION_DONE.name: RENDITION_READY, CAPTIONS_DONE.name: CAPTIONS_READY}


@dataclass(frozen=True)
class Step:
    """One stage step of one attempt: the key that admits one progress webhook."""

    video_id: str
    attempt: int
    stage: str
    step: int


@dataclass(frozen=True)
class Occurrence:
    type: str
    message_id: str
    video_id: str
    occurred_at: datetime
    source_event_id: str
    #: For progress: the step this event reached (only its first event is sent).
    step: Step | None = None
    #: What the type alone does not say (a rendition's name, a progress stage).
    detail: dict[str, object] | None = None


def message_id(source_event_id: str) -> str:
    return "msg_" + derived_event_id(source_event_id, "webhook").replace("-", "")


def occurrence(topic: str, event: Record) -> Occurrence | None:
    """The webhook `event` of `topic` is, or None for what no receiver hears of."""
    kind = _BY_TOPIC.get(topic)
    if kind is None:
        return None
    step, detail = None, None
    if isinstance(event, TranscodeProgress):
        step = Step(event.video_id, event.attempt, event.stage,
                    int(min(100.0, max(0.0, event.percent)) // STEP_PERCENT))
        detail = {"stage": event.stage, "percent": event.percent, "attempt": event.attempt}
    elif isinstance(event, RenditionDone):  # a rendition, or the captions stage's output
        detail = {"rendition": event.rendition, "attempt": event.attempt,
                  "media_type": str(event.media_type)}
    event_id: str = event.event_id  # type: ignore[attr-defined]
    return Occurrence(kind, message_id(event_id), event.video_id,  # type: ignore[attr-defined]
                      event.occurred_at, event_id, step, detail)  # type: ignore[attr-defined]
