"""Typed events: one frozen dataclass per schema, mirroring its latest `.avsc` field for field.

Usage (writers build events only through these classes; readers get them from the codec):

    from schemas import TRANSCODE_FAILED
    from schemas.events import StageFailed

    event = StageFailed.after(upload, stage="transcode", error_code="source_missing",
                              error_message="the source object is gone")
    await producer.publish(TRANSCODE_FAILED, event)       # the codec calls event.to_record()
    data = codec.encode(TRANSCODE_FAILED, event)           # bytes, Avro single-object
    same = codec.decode(TRANSCODE_FAILED, data)            # a StageFailed again
    same.video_id, same.attempt                            # attributes, not keys

    VideoUploaded(event_id=new_event_id(), video_id=vid, occurred_at=now(),
                  source_uri="s3://bucket/sources/…/original")   # keywords only

`Topic.event_type` names the class of a topic's events; `event.replace(field=value)`
makes a changed copy. Types mirror Avro: uuid/string -> str, int/long -> int, double ->
float, timestamp-millis -> aware `datetime`, nullable -> `X | None`, array -> `tuple[X, ...]`,
enum -> `StrEnum` (so `event.media_type == "VIDEO"` holds), record -> a nested class.
Defaults equal the `.avsc` defaults; fields without one are required.
`to_record()` is the dict fastavro writes; `from_record(dict)` accepts what fastavro reads
(nested records become their classes too). tests/unit/test_events.py proves each class
matches its schema. A new schema version means: add the field here with its default.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Self, cast

from schemas.ids import derived_event_id

_Convert = Callable[[Any], Any]


class Record:
    """Conversion between a dataclass and the dict fastavro writes and reads.

    Per class, the conversions are worked out once from its type hints and compiled into
    one function each way (`_compiled`): decoding and encoding events is on the
    projector's hot path, where a loop over the fields, a keyword dict and the frozen
    dataclass' `__init__` cost more than reading the Avro body did.
    """

    __slots__ = ()
    _from: ClassVar[Callable[[Mapping[str, Any]], Any]]
    _to: ClassVar[Callable[[Any], dict[str, Any]]]

    @classmethod
    def _plan(cls) -> None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        cls._from, cls._to = _compiled(cls, fields, hints)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Self:
        """The event from a decoded record; a field the record lacks takes its default."""
        if "_from" not in cls.__dict__:
            cls._plan()
        return cast(Self, cls._from(record))

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (`dataclasses.replace`, typed for any event)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_record(self) -> dict[str, Any]:
        """The dict fastavro writes with the schema (enums as symbols, tuples as lists)."""
        cls = type(self)
        if "_to" not in cls.__dict__:
            cls._plan()
        return cls._to(self)


_MISSING = object()


def _set_attribute(instance: Any, value: Any, name: str) -> None:
    object.__setattr__(instance, name, value)  # what a frozen dataclass' __init__ does


def _compiled(cls: type, fields: tuple[dataclasses.Field[Any], ...],
              hints: dict[str, Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`from_record` and `to_record` of `cls` as generated functions (as `dataclasses`
    generates `__init__`), with the same meaning as the loops they replace:

    - from: a field the record has is converted unless it is None; one it lacks takes its
      default; a required one lacking falls back to `cls(**found)`, whose `TypeError`
      names every missing field as before. The instance is filled through its slots'
      descriptors, as the frozen dataclass' own `__init__` does, minus the name lookups;
    - to: every field, converted unless None."""
    scope: dict[str, Any] = {"_cls": cls, "_new": object.__new__, "_MISSING": _MISSING}
    reads: list[str] = []
    writes: list[str] = []
    readers = {f.name: _reader(hints[f.name]) for f in fields}
    for i, f in enumerate(fields):
        name = f.name
        reader, writer = readers[name], _writer(hints[name])
        slot = cls.__dict__.get(name)
        scope[f"_set{i}"] = (slot.__set__ if isinstance(slot, types.MemberDescriptorType)
                             else functools.partial(_set_attribute, name=name))
        if reader is not None:
            scope[f"_r{i}"] = reader
        if writer is not None:
            scope[f"_w{i}"] = writer
        reads.append(f"    v = record.get({name!r}, _MISSING)")
        reads.append("    if v is _MISSING:")
        if f.default is not dataclasses.MISSING:
            scope[f"_d{i}"] = f.default
            reads.append(f"        v = _d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_d{i}"] = f.default_factory
            reads.append(f"        v = _d{i}()")
        else:
            reads.append("        return _cls(**_found(record))")
        if reader is not None:
            reads.append("    elif v is not None:")
            reads.append(f"        v = _r{i}(v)")
        reads.append(f"    _set{i}(self, v)")
        value = f"self.{name}" if writer is None else \
            f"(None if (v := self.{name}) is None else _w{i}(v))"
        writes.append(f"        {name!r}: {value},")
    def _found(record: Mapping[str, Any]) -> dict[str, Any]:
        found = {}
        for n in readers:
            if n in record:
                value, read = record[n], readers[n]
                found[n] = value if read is None or value is None else read(value)
        return found
    scope["_found"] = _found
    code = "\n".join(["def from_record(record):", "    self = _new(_cls)", *reads,
                      "    return self", "", "def to_record(self):", "    return {",
                      *writes, "    }"])
    exec(compile(code, f"<Record conversions of {cls.__name__}>", "exec"), scope)  # noqa: S102
    return scope["from_record"], scope["to_record"]


def _reader(hint: Any) -> _Convert | None:
    """How a value fastavro read becomes a value of `hint` (None: as it is)."""
    if isinstance(hint, types.UnionType):
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return _reader(inner)  # None itself never reaches a converter
    if typing.get_origin(hint) is tuple:
        item = _reader(typing.get_args(hint)[0])
        if item is None:
            return tuple
        return lambda values: tuple(item(v) for v in values)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_record
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if hint is datetime:
        return _moment
    return None


def _writer(hint: Any) -> _Convert | None:
    if isinstance(hint, types.UnionType):
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return _writer(inner)
    if typing.get_origin(hint) is tuple:
        item = _writer(typing.get_args(hint)[0])
        if item is None:
            return list
        return lambda values: [item(v) for v in values]
    if isinstance(hint, type) and issubclass(hint, Record):
        return lambda value: value.to_record()
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda value: value.value
    return None


def _moment(value: Any) -> datetime:
    """fastavro reads timestamp-millis as an aware datetime; a raw int is epoch millis."""
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(value / 1000, UTC)




# -- video-uploaded ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoStreamInfo(Record):
    codec: str
    width: int
    height: int
    fps: float | None = None
    bitrate: int | None = None
    pix_fmt: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AudioStreamInfo(Record):
    codec: str
    channels: int | None = None
    sample_rate: int | None = None
    bitrate: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceInfo(Record):
    """What probing the source found."""

    container: str
    duration_seconds: float
    bitrate: int | None = None
    video: VideoStreamInfo | None = None
    audio: AudioStreamInfo | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoUploaded(Record):
    """A source video is durably stored and asks to be processed."""

    event_id: str
    video_id: str
    occurred_at: datetime
    source_uri: str
    attempt: int = 1
    source_sha256: str | None = None
    source_size_bytes: int | None = None
    source_filename: str | None = None
    source_info: SourceInfo | None = None
    user_metadata_json: str = "{}"
    profile: str | None = None
    renditions: tuple[str, ...] | None = None
    priority: int = 5
    owner: str | None = None
    custom_thumbnail_uri: str | None = None
    origin: str = "upstream"
    traceparent: str | None = None
    # v2: what the caller asked of captions and of playback protection.
    captions: bool = True
    captions_language: str | None = None
    captions_only: bool = False
    playback_policy: str = "public"
    encryption: str | None = None


# -- video-cancelled --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoCancelled(Record):
    event_id: str
    video_id: str
    occurred_at: datetime
    reason: str = ""
    requested_by: str | None = None
    traceparent: str | None = None


# -- transcode-progress -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class TranscodeProgress(Record):
    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    stage: str
    percent: float
    traceparent: str | None = None


# -- rendition-done ---------------------------------------------------------------------


class MediaType(StrEnum):
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"
    IMAGES = "IMAGES"
    #: From rendition-done v5 on: the captions stage's outputs (WebVTT, SRT, text, JSON).
    CAPTIONS = "CAPTIONS"


@dataclass(frozen=True, kw_only=True, slots=True)
class Quality(Record):
    vmaf: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    vmaf_floor: float | None = None
    below_floor: bool = False
    frames_scored: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Artifact(Record):
    """A further file of an output (thumbnails, sprite, storyboard)."""

    name: str
    uri: str
    content_type: str
    size_bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionDone(Record):
    """One output of a transcode attempt is durably stored."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    rendition: str
    media_type: MediaType
    expected_renditions: tuple[str, ...]
    uri: str
    container: str = "mp4"
    codecs: str = ""
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    keyframe_interval_seconds: float | None = None
    bitrate: int = 0
    size_bytes: int = 0
    sha256: str = ""
    duration_seconds: float = 0.0
    encode_seconds: float = 0.0
    profile: str = "default"
    quality: Quality | None = None
    artifacts: tuple[Artifact, ...] = ()
    #: From v2 on, the size, hash and probe of the source object as transcode read it.
    source_size_bytes: int | None = None
    source_filename: str | None = None
    source_sha256: str | None = None
    source_info: SourceInfo | None = None
    #: From v3 on: the HDR transfer a video rendition was tone-mapped from (None: SDR).
    tone_mapped_from: str | None = None
    #: From v5 on, captions only: "ok" or "no_speech", the language and its probability,
    #: and whether a captions-only reprocess asked for them.
    captions_outcome: str | None = None
    language: str | None = None
    language_probability: float | None = None
    captions_only: bool = False
    user_metadata_json: str = "{}"
    uploaded_at: datetime | None = None
    #: From v6 on: the source the rendition was encoded from (what scoring compares with),
    #: and a chunked rung's chunk edges in source seconds (empty: encoded in one piece).
    source_uri: str | None = None
    chunk_boundaries_seconds: tuple[float, ...] = ()
    traceparent: str | None = None
    #: From v4 on: copied from video-uploaded; `cbcs` asks the packager to encrypt.
    encryption: str | None = None


# -- rendition-scored -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkQuality(Record):
    """The figures of one chunk of a rung encoded in chunks."""

    index: int
    start_seconds: float
    end_seconds: float
    vmaf: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    frames_scored: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionScored(Record):
    """The quality of one video rendition, measured after it became playable."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    rendition: str
    #: Lineage: the rendition-done scored, its file, and the source it was compared with.
    rendition_event_id: str
    rendition_uri: str
    rendition_sha256: str = ""
    source_sha256: str | None = None
    profile: str = "default"
    model: str = "vmaf_v0.6.1"
    subsample: int = 1
    quality: Quality
    chunks: tuple[ChunkQuality, ...] = ()
    score_seconds: float = 0.0
    traceparent: str | None = None


# -- chunk-requested, chunk-encoded (split and stitch) ---------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkRequested(Record):
    """One chunk of a long video to encode: every video rung over one source range."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    chunk_id: str
    index: int
    count: int
    start_seconds: float
    end_seconds: float
    start_frame: int
    frame_count: int
    source_uri: str
    source_sha256: str | None = None
    profile: str = "default"
    renditions: tuple[str, ...]
    upload_event_id: str
    traceparent: str | None = None
    #: When the attempt's upload was made (v2; None before: `occurred_at` counts).
    uploaded_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkOutput(Record):
    rendition: str
    uri: str
    size_bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkEncoded(Record):
    """A chunk's rungs are durably stored: the checkpoint of split and stitch."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    chunk_id: str
    index: int
    count: int
    start_seconds: float
    end_seconds: float
    frame_count: int
    outputs: tuple[ChunkOutput, ...]
    encode_seconds: float = 0.0
    worker: str = ""
    reused: bool = False
    traceparent: str | None = None


# -- stage-failed (transcode-failed, packaging-failed) ----------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StageFailed(Record):
    """A stage gave up on a video attempt for good."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    stage: str
    error_code: str
    error_message: str
    traceparent: str | None = None

    @classmethod
    def after(cls, cause: VideoUploaded | RenditionDone, *, stage: str, error_code: str,
              error_message: str, at: datetime | None = None) -> StageFailed:
        """The failure of the attempt `cause` started or fed. Its id derives from the cause,
        so a stage that gives up twice on the same input emits the same event."""
        return cls(event_id=derived_event_id(cause.event_id, "failed"),
                   video_id=cause.video_id, occurred_at=at or datetime.now(UTC),
                   attempt=cause.attempt, stage=stage, error_code=error_code,
                   error_message=error_message)


# -- video-transcoded -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PackagedRendition(Record):
    rendition: str
    media_type: str
    width: int | None = None
    height: int | None = None
    bandwidth: int = 0
    codecs: str = ""
    playlist_uri: str | None = None
    download_uri: str | None = None
    segment_count: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoTranscoded(Record):
    """A video attempt is packaged and playable."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int = 1
    package_uri: str
    hls_master_uri: str
    dash_manifest_uri: str | None = None
    metadata_uri: str | None = None
    duration_seconds: float = 0.0
    total_bytes: int = 0
    latency_ms: int | None = None
    renditions: tuple[PackagedRendition, ...] = ()
    #: From v2 on: the manifests' revision (a captions track added later is revision 2)
    #: and the language of the captions track they carry.
    revision: int = 1
    captions_language: str | None = None
    traceparent: str | None = None


# -- dead-letter ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Header(Record):
    key: str
    value: bytes | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter(Record):
    """A record that could not be decoded, or whose processing failed for good."""

    event_id: str
    video_id: str | None = None
    occurred_at: datetime
    original_topic: str
    original_partition: int
    original_offset: int
    original_timestamp: datetime | None = None
    original_key: bytes | None = None
    original_value: bytes | None = None
    original_headers: tuple[Header, ...] = ()
    consumer_group: str
    error_code: str
    error_class: str
    error_message: str
    stacktrace: str = ""
    attempts: int = 1
    redrive_count: int = 0
    traceparent: str | None = None


# -- api-key ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKeyState(Record):
    """The full state of one API key after a change; never the clear key."""

    event_id: str
    occurred_at: datetime
    key_id: str
    name: str
    key_sha256: str
    active: bool
    rate_limit_per_hour: int = 100
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    traceparent: str | None = None


# -- webhook-endpoint -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSecret(Record):
    secret: str
    created_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSealedSecret(Record):
    """A signing secret wrapped under a KEK (webhook-endpoint v2)."""

    kek_id: str
    wrapped_secret: bytes
    created_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookEndpointState(Record):
    """The full state of one webhook endpoint after a change: its secrets sealed under the
    KEK (v2), or in clear (v1, or a writer without a KEK)."""

    event_id: str
    occurred_at: datetime
    endpoint_id: str
    owner: str
    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()
    enabled: bool
    disabled_reason: str | None = None
    secrets: tuple[WebhookSecret, ...] = ()
    created_at: datetime
    deleted: bool = False
    traceparent: str | None = None
    sealed_secrets: tuple[WebhookSealedSecret, ...] = ()


# -- protected playback (issue 14) -----------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SigningKeyState(Record):
    """The full state of one playback signing key after a change; public key only."""

    event_id: str
    occurred_at: datetime
    kid: str
    owner: str
    public_key_pem: str
    active: bool
    created_at: datetime
    revoked_at: datetime | None = None
    traceparent: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackPolicyChanged(Record):
    """A video's playback policy was set after its upload (`public` or `signed`)."""

    event_id: str
    video_id: str
    occurred_at: datetime
    playback_policy: str
    requested_by: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ContentKeyState(Record):
    """One content key of an encrypted attempt, wrapped under a key-encryption key."""

    event_id: str
    occurred_at: datetime
    kid: str
    video_id: str
    attempt: int
    scheme: str = "cbcs"
    kek_id: str
    wrapped_key: bytes
    traceparent: str | None = None


# -- video-reprioritised and lane-queue (the lane router: services/router) ---------------


@dataclass(frozen=True, kw_only=True, slots=True)
class VideoReprioritised(Record):
    """A waiting attempt's priority changed (`PATCH /api/v1/videos/{id}`)."""

    event_id: str
    video_id: str
    occurred_at: datetime
    attempt: int
    priority: int
    previous_priority: int | None = None
    requested_by: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QueuedJob(Record):
    video_id: str
    attempt: int
    owner: str | None = None
    priority: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LaneQueue(Record):
    """The router's snapshot of one lane: held jobs in dispatch order, and its pace."""

    event_id: str
    occurred_at: datetime
    lane: str
    waiting: tuple[QueuedJob, ...]
    dispatched: int
    jobs_per_hour: float | None = None
    traceparent: str | None = None


#: The events of one video's life (each carries its `video_id`).
VideoEvent = (VideoUploaded | VideoCancelled | TranscodeProgress | RenditionDone | StageFailed
              | VideoTranscoded | RenditionScored | PlaybackPolicyChanged | VideoReprioritised)
#: Every event class.
Event = (VideoEvent | DeadLetter | ApiKeyState | SigningKeyState | ContentKeyState
         | ChunkRequested | ChunkEncoded)

#: Schema folder name -> the class of its events (what `Topic.event_type` looks up).
EVENT_TYPES: dict[str, type[Record]] = {
    "video-uploaded": VideoUploaded,
    "video-cancelled": VideoCancelled,
    "transcode-progress": TranscodeProgress,
    "rendition-done": RenditionDone,
    "rendition-scored": RenditionScored,
    "chunk-requested": ChunkRequested,
    "chunk-encoded": ChunkEncoded,
    "stage-failed": StageFailed,
    "video-transcoded": VideoTranscoded,
    "dead-letter": DeadLetter,
    "api-key": ApiKeyState,
    "webhook-endpoint": WebhookEndpointState,
    "signing-key": SigningKeyState,
    "playback-policy-changed": PlaybackPolicyChanged,
    "content-key": ContentKeyState,
    "video-reprioritised": VideoReprioritised,
    "lane-queue": LaneQueue,
}
