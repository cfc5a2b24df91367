"""One rule per event: typed events round-tripped through Reelflow's codec, and what each adds."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas import (
    ALL_TOPICS,
    DEAD_LETTER,
    PACKAGING_FAILED,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from schemas.events import (
    DeadLetter,
    StageFailed,
    TranscodeProgress,
    VideoCancelled,
    VideoTranscoded,
    VideoUploaded,
)
from services.figures.figures import UNKNOWN_TENANT, Contribution, Owner
from services.figures.observe import contribution, owner_of, video_id_of
from services.shared.codec import EventCodec

codec = EventCodec(ALL_TOPICS)
VIDEO = str(uuid.uuid4())
AT = 1_796_160_012_345
WHEN = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=AT)


def through_codec(topic, event):
    return codec.decode(topic, codec.encode(topic, event))


def ids():
    return {"event_id": str(uuid.uuid4()), "video_id": VIDEO, "occurred_at": WHEN}


def test_an_upload_names_the_tenant_and_counts_its_source_bytes():
    upload = through_codec(VIDEO_UPLOADED, VideoUploaded(
        **ids(), source_uri="s3://b/k", source_size_bytes=1234, owner="acme"))
    assert video_id_of(upload) == VIDEO
    assert owner_of(upload) == Owner("acme", AT)
    assert contribution(upload, None) == Contribution("acme", AT, accepted=1, bytes_in=1234)
    anonymous = through_codec(VIDEO_UPLOADED, VideoUploaded(**ids(), source_uri="s3://b/k"))
    assert contribution(anonymous, None) == Contribution(UNKNOWN_TENANT, AT, accepted=1)


def test_later_events_count_under_the_remembered_owner():
    cancel = through_codec(VIDEO_CANCELLED, VideoCancelled(**ids()))
    assert contribution(cancel, Owner("acme", 0)) == Contribution("acme", AT, cancelled=1)
    assert contribution(cancel, None).tenant == UNKNOWN_TENANT
    failed = through_codec(PACKAGING_FAILED, StageFailed(
        **ids(), stage="packaging", error_code="boom", error_message="m"))
    assert contribution(failed, Owner("acme", 0)) == Contribution("acme", AT, failed_code="boom")


def test_time_to_playable_is_latency_ms_or_else_measured_from_the_upload():
    common = {"package_uri": "s3://b/p/", "hls_master_uri": "s3://b/p/m.m3u8",
              "total_bytes": 777}
    with_latency = through_codec(VIDEO_TRANSCODED, VideoTranscoded(
        **ids(), latency_ms=4_321, **common))
    assert contribution(with_latency, Owner("a", AT - 10)) == Contribution(
        "a", AT, ready=1, bytes_out=777, latency_ms=4_321)
    without = through_codec(VIDEO_TRANSCODED, VideoTranscoded(**ids(), **common))
    assert contribution(without, Owner("a", AT - 9_000)).latency_ms == 9_000
    assert contribution(without, None).latency_ms is None


def test_dead_letters_count_by_code_and_other_events_are_refused():
    letter = through_codec(DEAD_LETTER, DeadLetter(
        event_id=str(uuid.uuid4()), occurred_at=WHEN, original_topic="video-uploaded",
        original_partition=1, original_offset=2, consumer_group="catalog",
        error_code="not_avro", error_class="X", error_message="m"))
    assert contribution(letter, None).dead_letter_code == "not_avro"
    with pytest.raises(TypeError):
        video_id_of(letter)
    with pytest.raises(TypeError):
        contribution(TranscodeProgress(**ids(), stage="encode", percent=5.0), None)
