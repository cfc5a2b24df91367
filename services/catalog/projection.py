"""Pure projection rules: what one event does to a video's read model. No I/O.

The video row is a fold in which every field merges by min, max, union or "the highest
attempt wins". So the result depends only on *which* events were applied, never on the
order they were read in, and applying one twice changes nothing. That matters: the
topics are separate logs, so a video's `transcode-progress` may be read before its
`video-uploaded` (always so on a replay from the beginning), and redrives repeat events.

Status is not a stored transition history but derived from the merged facts of the
current (newest) attempt:

- events of an older attempt never touch the current attempt's facts; an event of a
  newer attempt (a reprocess) resets them, so the video starts again at `uploaded`;
- the earliest terminal fact of the attempt wins: `ready`, `failed`, or `cancelled`
  (a cancellation carries no attempt; it applies to attempts started before it);
- otherwise the furthest stage reached: `packaging` (all expected renditions done),
  `transcoding` (any progress or rendition), `uploaded`. Facts only grow within an
  attempt, so progress never moves the status backwards.

Priority: the upload's, until a `video-reprioritised` of the same attempt changes it (ingest
accepts one only while the attempt waits, so it always follows the upload); among changes
the latest by time wins. A change read after the video started, or ended, still says what
the priority was while it waited: it is recorded, and the status does not move.

Packages: the playable package is the newest attempt whose `video-transcoded` arrived,
so a reprocess keeps the old package current until its own is ready; within an attempt,
the newest revision (captions added later) is current.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.events import (
    ApiKeyState,
    DeadLetter,
    Event,
    MediaType,
    PlaybackPolicyChanged,
    Record,
    RenditionDone,
    RenditionScored,
    SigningKeyState,
    StageFailed,
    TranscodeProgress,
    VideoCancelled,
    VideoReprioritised,
    VideoTranscoded,
    VideoUploaded,
)
from services.catalog.rows import (
    THUMBNAILS_RENDITION,
    Position,
    Row,
    dead_letter_rows,
    package_row,
    rendition_row,
    score_row,
    thumbnails_of,
    timeline_row,
)

STATUSES = ("uploaded", "transcoding", "packaging", "ready", "failed", "cancelled")
TERMINAL = frozenset({"ready", "failed", "cancelled"})
# Tie-break for terminal facts in the same millisecond; any fixed order keeps it deterministic.
_TERMINAL_RANK = {"cancelled": 0, "failed": 1, "ready": 2}


@dataclass
class VideoState:
    """One `videos` row. Field names are the column names.

    Treated as immutable by everything outside this module: `project_event` works on a
    private copy (cheaper than `dataclasses.replace` per field, which matters at
    thousands of events per second) and never changes the state it was given.
    """

    video_id: str
    status: str
    attempt: int
    created_at: datetime
    updated_at: datetime
    metadata_attempt: int | None = None
    owner: str | None = None
    priority: int = 5
    #: The attempt whose priority `priority` is, and when it was last reprioritised (None:
    #: the priority is the upload's): the fold's inputs for `priority` (`_set_priority`).
    priority_attempt: int | None = None
    reprioritised_at: datetime | None = None
    profile: str | None = None
    origin: str | None = None
    requested_renditions: list[str] | None = None
    user_metadata: dict[str, Any] = field(default_factory=dict)
    source_uri: str | None = None
    source_sha256: str | None = None
    source_size_bytes: int | None = None
    source_filename: str | None = None
    source_info: dict[str, Any] | None = None
    duration_seconds: float | None = None
    custom_thumbnail_uri: str | None = None
    attempt_started_at: datetime | None = None
    uploaded_at: datetime | None = None
    transcoding_at: datetime | None = None
    packaging_at: datetime | None = None
    ready_at: datetime | None = None
    failed_at: datetime | None = None
    progress: dict[str, float] = field(default_factory=dict)
    expected_renditions: list[str] | None = None
    #: rendition -> epoch ms of its (first) rendition-done, for the current attempt.
    rendition_times: dict[str, int] = field(default_factory=dict)
    error_stage: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    completed_at: datetime | None = None
    latency_ms: int | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    current_package_attempt: int | None = None
    #: The manifests' revision of the current package (2: captions added later).
    current_package_revision: int | None = None
    thumbnails: dict[str, Any] | None = None
    thumbnails_attempt: int | None = None
    #: The fold's inputs for the visible source facts (see `_source_facts`).
    source_declared: dict[str, Any] | None = None
    source_measured: dict[str, Any] | None = None
    package_duration_seconds: float | None = None
    #: `public` or `signed`: the latest policy fact by time (upload or policy change).
    playback_policy: str = "public"
    playback_policy_at: datetime | None = None
    #: The current submission's encryption (None or `cbcs`).
    encryption: str | None = None

    def copy(self) -> VideoState:
        twin = object.__new__(VideoState)
        twin.__dict__.update(self.__dict__)  # shallow: merges replace dicts, never mutate
        return twin


@dataclass(frozen=True)
class Projection:
    """What one event changes: the video row (None for dead letters) and rows to add."""

    video: VideoState | None
    rows: tuple[Row, ...]


def project_event(state: VideoState | None, topic: str, event: Event,
                  position: Position) -> Projection:
    """Apply one decoded event of `topic` to the video's current row (None if new)."""
    if isinstance(event, DeadLetter):
        return Projection(state, dead_letter_rows(event, position))
    return Projection(project_events(state, (event,)), event_rows(topic, event, position))


def project_events(state: VideoState | None, events: Sequence[Event]) -> VideoState:
    """The video's row after `events` (one video's, none a dead letter), exactly as
    `project_event` applied to each in turn leaves it, but copied once and derived once:
    `derive` reads only facts, and no merge reads what it derives, so deriving after the
    last event is the same as after every one. The projector folds a batch this way."""
    first = events[0]
    assert not isinstance(first, ApiKeyState | SigningKeyState | DeadLetter), first
    video = state.copy() if state else VideoState(first.video_id, "uploaded", 0,
                                                 first.occurred_at, first.occurred_at)
    for event in events:
        assert not isinstance(event, ApiKeyState | SigningKeyState | DeadLetter), event
        when = event.occurred_at
        video.created_at = min(video.created_at, when)
        video.updated_at = max(video.updated_at, when)
        if not isinstance(event, VideoCancelled | PlaybackPolicyChanged):  # no attempt
            _enter_attempt(video, event.attempt, when)
        _MERGES[type(event)](video, event)
    derive(video)
    return video


def event_rows(topic: str, event: Event, position: Position) -> tuple[Row, ...]:
    """The rows an event adds beside the video row (its timeline entry first); they
    depend on the event alone, never on the video's state."""
    if isinstance(event, DeadLetter):
        return dead_letter_rows(event, position)
    return (timeline_row(topic, event, position), *_rows_for(event))


def _rows_for(event: Event) -> tuple[Row, ...]:
    if isinstance(event, RenditionDone):
        return (rendition_row(event),)
    if isinstance(event, VideoTranscoded):
        return (package_row(event),)
    if isinstance(event, RenditionScored):
        return (score_row(event),)
    return ()


def _enter_attempt(v: VideoState, attempt: int, when: datetime) -> None:
    if attempt > v.attempt:
        # A newer attempt: the old attempt's facts no longer describe the video.
        v.attempt, v.attempt_started_at = attempt, when
        v.uploaded_at = v.transcoding_at = v.packaging_at = v.ready_at = v.failed_at = None
        v.progress, v.expected_renditions, v.rendition_times = {}, None, {}
        v.error_stage = v.error_code = v.error_message = None
        v.completed_at, v.latency_ms = None, None
    elif attempt == v.attempt:
        v.attempt_started_at = _earliest(v.attempt_started_at, when)


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def parse_user_metadata(text: str | None) -> dict[str, Any]:
    """`user_metadata_json` as an object; anything else (not JSON, not an object) is {}."""
    try:
        parsed = json.loads(text or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _uploaded(v: VideoState, event: VideoUploaded) -> None:
    if event.attempt == v.attempt:
        v.uploaded_at = _earliest(v.uploaded_at, event.occurred_at)
    _set_policy(v, event.playback_policy, event.occurred_at)
    _set_priority(v, event.attempt, event.priority, None)
    if event.attempt < (v.metadata_attempt or 0):
        return  # a newer attempt's submission already supplied these fields
    info = event.source_info
    v.metadata_attempt = event.attempt
    v.owner = event.owner
    v.profile, v.origin = event.profile, event.origin
    v.requested_renditions = list(event.renditions) if event.renditions is not None else None
    v.user_metadata = parse_user_metadata(event.user_metadata_json)
    v.source_uri, v.source_filename = event.source_uri, event.source_filename
    v.source_declared = {"sha256": event.source_sha256, "size_bytes": event.source_size_bytes,
                         "info": info.to_record() if info else None}
    v.custom_thumbnail_uri = event.custom_thumbnail_uri
    v.encryption = event.encryption


def _set_policy(v: VideoState, policy: str, when: datetime) -> None:
    """The latest policy fact wins (ties: `signed`, the safe side), in any order of reading."""
    current = v.playback_policy_at
    if current is None or when > current or (when == current and policy == "signed"):
        v.playback_policy, v.playback_policy_at = policy, when


def _set_priority(v: VideoState, attempt: int, priority: int,
                  reprioritised_at: datetime | None) -> None:
    """The newest attempt's priority; within it a change beats the upload, and the latest
    change wins (ties: the higher priority), in any order of reading."""
    held_attempt, held_at = v.priority_attempt or 0, v.reprioritised_at
    if attempt < held_attempt:
        return
    if attempt == held_attempt and held_at is not None and (
            reprioritised_at is None or (reprioritised_at, priority) <= (held_at, v.priority)):
        return
    v.priority, v.priority_attempt, v.reprioritised_at = priority, attempt, reprioritised_at


def _reprioritised(v: VideoState, event: VideoReprioritised) -> None:
    _set_priority(v, event.attempt, event.priority, event.occurred_at)


def _policy_changed(v: VideoState, event: PlaybackPolicyChanged) -> None:
    _set_policy(v, event.playback_policy, event.occurred_at)


def _cancelled(v: VideoState, event: VideoCancelled) -> None:
    when = event.occurred_at
    if v.cancelled_at is not None and when <= v.cancelled_at:
        return  # the latest cancellation is the one that can still apply
    v.cancelled_at, v.cancel_reason = when, event.reason or None
    v.cancelled_by = event.requested_by


def _progress(v: VideoState, event: TranscodeProgress) -> None:
    if event.attempt != v.attempt:
        return
    stage, percent = event.stage, event.percent
    if math.isfinite(percent):  # NaN would poison max() and is not JSON
        v.progress = {**v.progress, stage: max(percent, v.progress.get(stage, 0.0))}
    v.transcoding_at = _earliest(v.transcoding_at, event.occurred_at)


def _rendition_done(v: VideoState, event: RenditionDone) -> None:
    if event.media_type is MediaType.CAPTIONS:
        return  # captions are off the encoding path: their row is all they add
    if event.rendition == THUMBNAILS_RENDITION and (
            event.attempt >= (v.thumbnails_attempt or 0)):
        v.thumbnails, v.thumbnails_attempt = thumbnails_of(event), event.attempt
    v.source_measured = measured_source(v.source_measured, event)
    if event.attempt != v.attempt:
        return
    when = event.occurred_at
    ms = int(when.timestamp() * 1000)
    name = event.rendition
    v.rendition_times = {**v.rendition_times, name: min(ms, v.rendition_times.get(name, ms))}
    v.expected_renditions = sorted({*(v.expected_renditions or ()),
                                    *event.expected_renditions})
    v.transcoding_at = _earliest(v.transcoding_at, when)
    if event.uploaded_at is not None:
        # The same fact video-uploaded states; known here even when that event is not yet.
        v.uploaded_at = _earliest(v.uploaded_at, event.uploaded_at)


def _failed(v: VideoState, event: StageFailed) -> None:
    if event.attempt != v.attempt:
        return
    when = event.occurred_at
    if v.failed_at is not None and v.failed_at <= when:
        return  # the first failure of the attempt is the reason
    v.failed_at, v.error_stage = when, event.stage
    v.error_code, v.error_message = event.error_code, event.error_message


def _transcoded(v: VideoState, event: VideoTranscoded) -> None:
    current = (v.current_package_attempt or 0, v.current_package_revision or 0)
    if (event.attempt, event.revision) >= current:
        v.current_package_attempt = event.attempt
        v.current_package_revision = event.revision
        v.package_duration_seconds = event.duration_seconds or None
    if event.attempt == v.attempt:
        v.ready_at = _earliest(v.ready_at, event.occurred_at)


#: Per event class (transcode-failed and packaging-failed share StageFailed and its rule).
_MERGES: dict[type[Record], Callable[[VideoState, Any], None]] = {
    VideoUploaded: _uploaded,
    VideoCancelled: _cancelled,
    TranscodeProgress: _progress,
    RenditionDone: _rendition_done,
    StageFailed: _failed,
    VideoTranscoded: _transcoded,
    # Scores change no state: they are rows of their own (rendition_scores).
    RenditionScored: lambda v, event: None,
    PlaybackPolicyChanged: _policy_changed,
    VideoReprioritised: _reprioritised,
}


_MEASURED = ("sha256", "size_bytes", "info")


def measured_source(current: dict[str, Any] | None,
                    event: RenditionDone) -> dict[str, Any] | None:
    """Merge what one rendition-done measured of the source: the newest attempt's
    measurement wins; within an attempt every rendition-done carries the same measurement
    (one download, one probe), so a fact already known stays and a missing one is filled."""
    if (current is not None and current["attempt"] == event.attempt
            and all(current.get(k) is not None for k in _MEASURED)):
        return current  # every fact of this attempt known: nothing to fill (the common case)
    found = {"sha256": event.source_sha256, "size_bytes": event.source_size_bytes,
             "info": event.source_info.to_record() if event.source_info else None}
    if not any(value is not None for value in found.values()):
        return current
    if current is None or event.attempt > current["attempt"]:
        return {"attempt": event.attempt, **found}
    if event.attempt < current["attempt"]:
        return current
    return {"attempt": event.attempt,
            **{k: current.get(k) if current.get(k) is not None else v for k, v in found.items()}}


def _source_facts(v: VideoState) -> None:
    """What the video-uploaded declared, else what the pipeline measured: transcode's size,
    hash and probe of the object it read, and the packager's duration of the package."""
    declared, measured = v.source_declared or {}, v.source_measured or {}
    v.source_sha256 = declared.get("sha256") or measured.get("sha256")
    v.source_size_bytes = declared.get("size_bytes") or measured.get("size_bytes")
    v.source_info = declared.get("info") or measured.get("info")
    v.duration_seconds = ((declared.get("info") or {}).get("duration_seconds")
                          or v.package_duration_seconds
                          or (measured.get("info") or {}).get("duration_seconds"))


def packaging_started(video: VideoState) -> datetime | None:
    """When the last expected rendition of the current attempt was done, if all are."""
    expected = video.expected_renditions
    if not expected or not set(expected) <= video.rendition_times.keys():
        return None
    last = max(video.rendition_times[name] for name in expected)
    return datetime.fromtimestamp(last / 1000, tz=UTC)


def cancellation_applies(video: VideoState) -> bool:
    if video.cancelled_at is None:
        return False
    return video.attempt_started_at is None or video.cancelled_at >= video.attempt_started_at


def derive(v: VideoState) -> None:
    """Recompute the derived columns (status, completion, latency, source facts) from the
    facts."""
    _source_facts(v)
    v.packaging_at = packaging_started(v)
    failed_at = v.failed_at
    if failed_at is not None and v.ready_at is not None and v.ready_at > failed_at:
        # A package that arrived after the failure means the input was redriven once its
        # cause was fixed: the video is playable, and the failure is history.
        failed_at = None
    terminals = [(t, s) for t, s in ((v.ready_at, "ready"), (failed_at, "failed"))
                 if t is not None]
    if cancellation_applies(v):
        assert v.cancelled_at is not None
        terminals.append((v.cancelled_at, "cancelled"))
    v.completed_at = None
    if terminals:
        v.completed_at, v.status = min(terminals, key=lambda ts: (ts[0], _TERMINAL_RANK[ts[1]]))
    elif v.packaging_at is not None:
        v.status = "packaging"
    elif v.transcoding_at is not None:
        v.status = "transcoding"
    else:
        v.status = "uploaded"
    # Ingest-to-playable, from facts only (so it cannot depend on the order of arrival).
    v.latency_ms = None
    if v.uploaded_at is not None and v.ready_at is not None:
        v.latency_ms = round((v.ready_at - v.uploaded_at).total_seconds() * 1000)
