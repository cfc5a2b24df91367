"""One rule per topic: events decoded by Reelflow's codec, and what each adds."""

import uuid

import pytest

from schemas import (
    ALL_TOPICS,
    DEAD_LETTER,
    PACKAGING_FAILED,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)
from services.figures.figures import UNKNOWN_TENANT, Contribution, Owner
from services.figures.observe import contribution, owner_of, video_id_of
from services.shared.codec import EventCodec

codec = EventCodec(ALL_TOPICS)
VIDEO = str(uuid.uuid4())
AT = 1_796_160_012_345


def decoded(topic, **fields):
    event = {"event_id": str(uuid.uuid4()), "video_id": VIDEO, "occurred_at": AT, **fields}
    return codec.decode(topic, codec.encode(topic, event))


def test_an_upload_names_the_tenant_and_counts_its_source_bytes():
    upload = decoded(VIDEO_UPLOADED, source_uri="s3://b/k", source_size_bytes=1234, owner="acme")
    assert video_id_of(upload) == VIDEO
    assert owner_of(upload) == Owner("acme", AT)
    assert contribution(VIDEO_UPLOADED.name, upload, None) == Contribution(
        "acme", AT, accepted=1, bytes_in=1234)
    anonymous = decoded(VIDEO_UPLOADED, source_uri="s3://b/k")
    assert contribution(VIDEO_UPLOADED.name, anonymous, None) == Contribution(
        UNKNOWN_TENANT, AT, accepted=1, bytes_in=0)


def test_later_events_count_under_the_remembered_owner():
    cancel = decoded(VIDEO_CANCELLED)
    assert contribution(VIDEO_CANCELLED.name, cancel, Owner("acme", 0)).tenant == "acme"
    assert contribution(VIDEO_CANCELLED.name, cancel, None).tenant == UNKNOWN_TENANT
    failed = decoded(PACKAGING_FAILED, stage="packaging", error_code="boom", error_message="m")
    assert contribution(PACKAGING_FAILED.name, failed, Owner("acme", 0)) == Contribution(
        "acme", AT, failed_code="boom")


def test_time_to_playable_is_latency_ms_or_else_measured_from_the_upload():
    common = {"package_uri": "s3://b/p/", "hls_master_uri": "s3://b/p/m.m3u8",
              "total_bytes": 777}
    with_latency = decoded(VIDEO_TRANSCODED, latency_ms=4_321, **common)
    assert contribution(VIDEO_TRANSCODED.name, with_latency, Owner("a", AT - 10)) == (
        Contribution("a", AT, ready=1, bytes_out=777, latency_ms=4_321))
    without = decoded(VIDEO_TRANSCODED, **common)
    assert contribution(VIDEO_TRANSCODED.name, without, Owner("a", AT - 9_000)).latency_ms == 9_000
    assert contribution(VIDEO_TRANSCODED.name, without, None).latency_ms is None


def test_dead_letters_count_by_code_and_unknown_topics_are_refused():
    letter = codec.decode(DEAD_LETTER, codec.encode(DEAD_LETTER, {
        "event_id": str(uuid.uuid4()), "occurred_at": AT, "original_topic": "video-uploaded",
        "original_partition": 1, "original_offset": 2, "consumer_group": "catalog",
        "error_code": "not_avro", "error_class": "X", "error_message": "m"}))
    assert contribution(DEAD_LETTER.name, letter, None).dead_letter_code == "not_avro"
    with pytest.raises(KeyError):
        contribution("transcode-progress", letter, None)
