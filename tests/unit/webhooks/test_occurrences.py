"""Which webhook each pipeline event is, with an id derived from the source event's."""

import uuid
from datetime import UTC, datetime

from schemas import (
    CAPTIONS_DONE,
    DEAD_LETTER,
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.events import (
    MediaType,
    RenditionDone,
    StageFailed,
    TranscodeProgress,
    VideoCancelled,
    VideoTranscoded,
    VideoUploaded,
)
from services.webhooks.occurrences import Step, message_id, occurrence

AT = datetime(2026, 12, 2, tzinfo=UTC)
VIDEO = str(uuid.uuid4())


def _id() -> str:
    return str(uuid.uuid4())


def test_each_lifecycle_topic_is_its_webhook_type():
    common = {"event_id": _id(), "video_id": VIDEO, "occurred_at": AT}
    cases = [
        (VIDEO_UPLOADED, VideoUploaded(**common, source_uri="s3://b/k"), "video.uploaded"),
        (VIDEO_TRANSCODED, VideoTranscoded(**common, package_uri="s3://b/p",
                                           hls_master_uri="s3://b/m"), "video.ready"),
        (TRANSCODE_FAILED, StageFailed(**common, stage="transcode", error_code="x",
                                       error_message="y"), "video.failed"),
        (PACKAGING_FAILED, StageFailed(**common, stage="package", error_code="x",
                                       error_message="y"), "video.failed"),
        (VIDEO_CANCELLED, VideoCancelled(**common), "video.cancelled"),
    ]
    for topic, event, kind in cases:
        found = occurrence(topic.name, event)
        assert found is not None and found.type == kind and found.video_id == VIDEO


def test_renditions_are_rendition_ready_and_the_captions_stages_output_captions_ready():
    def done(name: str) -> RenditionDone:
        return RenditionDone(event_id=_id(), video_id=VIDEO, occurred_at=AT, rendition=name,
                             media_type=MediaType.VIDEO, expected_renditions=(name,),
                             uri="s3://b/r")
    found = occurrence(RENDITION_DONE.name, done("720p"))
    assert found and found.type == "video.rendition_ready"
    assert found.detail == {"rendition": "720p", "attempt": 1, "media_type": "VIDEO"}
    captions = occurrence(CAPTIONS_DONE.name, done("captions").replace(
        media_type=MediaType.CAPTIONS))
    assert captions and captions.type == "video.captions_ready"
    assert captions.detail and captions.detail["media_type"] == "CAPTIONS"


def test_the_id_derives_from_the_source_event_and_nothing_else():
    source = _id()
    event = VideoUploaded(event_id=source, video_id=VIDEO, occurred_at=AT, source_uri="s3://b/k")
    first = occurrence(VIDEO_UPLOADED.name, event)
    again = occurrence(VIDEO_UPLOADED.name, event.replace(occurred_at=datetime.now(UTC)))
    assert first and again and first.message_id == again.message_id == message_id(source)
    assert first.message_id.startswith("msg_")
    assert message_id(_id()) != first.message_id


def test_progress_is_keyed_by_its_stage_step_a_quarter_each():
    def progress(percent: float, stage: str = "encode") -> Step | None:
        found = occurrence(TRANSCODE_PROGRESS.name, TranscodeProgress(
            event_id=_id(), video_id=VIDEO, occurred_at=AT, attempt=2, stage=stage,
            percent=percent))
        assert found and found.type == "video.processing"
        return found.step
    assert progress(0.0) == progress(24.9) == Step(VIDEO, 2, "encode", 0)
    assert progress(25.0) == Step(VIDEO, 2, "encode", 1)
    assert progress(100.0) == progress(120.0) == Step(VIDEO, 2, "encode", 4)
    assert progress(10.0, "quality") == Step(VIDEO, 2, "quality", 0)
    steps = {progress(p / 10) for p in range(0, 1001)}
    assert len(steps) == 5  # at most five webhooks per stage, however often it reports


def test_dead_letters_are_no_webhook():
    assert occurrence(DEAD_LETTER.name, object()) is None  # type: ignore[arg-type]
