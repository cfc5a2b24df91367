"""Reelflow events are Avro single-object encoded, readable by any Avro implementation."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import fastavro
import pytest

from schemas import ALL_TOPICS, DEAD_LETTER, VIDEO_UPLOADED
from schemas.events import StageFailed, VideoUploaded
from services.shared.codec import (
    MAGIC,
    CorruptBody,
    EventCodec,
    InvalidEvent,
    NotAvroSingleObject,
    UnknownFingerprint,
    spec_fingerprint,
)
from tests.avro_samples import sample
from tests.unit.catalog.stories import WRITTEN, VideoStory, dead_letter_event

codec = EventCodec(ALL_TOPICS)

MINIMAL_UPLOAD = {
    "event_id": "0b8f3c1e-7a11-4c55-9d3b-5b1c7e0f2a10",
    "video_id": "9e7b2d4c-1f3a-4b6e-8c5d-2a1f0e9d8c7b",
    "occurred_at": 1767225600000,
    "source_uri": "s3://upstream/videos/cat.mp4",
}
MINIMAL_EVENT = VideoUploaded.from_record(MINIMAL_UPLOAD)


def typed(topic, record):
    return topic.event_type.from_record(record)


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_every_topic_round_trips_a_fully_populated_event(topic):
    record = sample(topic.latest.definition)
    event = typed(topic, record)
    decoded = codec.decode(topic, codec.encode(topic, event))
    assert type(decoded) is topic.event_type
    # Every field, nested records included, comes back with the value that was written.
    assert decoded == event
    assert decoded.to_record() == record


def test_wire_format_is_the_spec_single_object_encoding():
    data = codec.encode(VIDEO_UPLOADED, MINIMAL_EVENT)
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:10] == spec_fingerprint(VIDEO_UPLOADED.latest.definition)
    # Golden vectors: a released version's fingerprint must never change (upstream
    # producers frame their records with it).
    v1, v2 = VIDEO_UPLOADED.versions[:2]
    assert spec_fingerprint(v1.definition).hex() == "3bdf5515ce29450d"
    assert spec_fingerprint(v2.definition).hex() == "f87f6b29cd5887c0"


def test_an_upstream_publisher_needs_only_ids_time_and_source_uri():
    decoded = codec.decode(VIDEO_UPLOADED, codec.encode(VIDEO_UPLOADED, MINIMAL_EVENT))
    assert decoded.source_uri == "s3://upstream/videos/cat.mp4"
    assert decoded.attempt == 1 and decoded.priority == 5
    assert decoded.profile is None and decoded.user_metadata_json == "{}"


def _apache_avro_single_object(topic, record):
    # Apache Avro's writer does not fill defaults: a publisher copies them from the schema.
    defaults = {f["name"]: f["default"] for f in topic.latest.definition["fields"]
                if "default" in f}
    record = {**defaults, **record}
    schema = avro.schema.parse(json.dumps(topic.latest.definition))
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    return MAGIC + schema.fingerprint("CRC-64-AVRO") + body.getvalue()


def test_events_written_by_apache_avro_for_python_decode():
    # Apache Avro 1.12's fingerprint differs from the spec for logical types; we accept both.
    record = {**MINIMAL_UPLOAD, "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)}
    data = _apache_avro_single_object(VIDEO_UPLOADED, record)
    assert data[2:10] != spec_fingerprint(VIDEO_UPLOADED.latest.definition)
    decoded = codec.decode(VIDEO_UPLOADED, data)
    assert decoded.video_id == MINIMAL_UPLOAD["video_id"]


def test_our_events_are_readable_by_apache_avro():
    data = codec.encode(VIDEO_UPLOADED, MINIMAL_EVENT)
    schema = avro.schema.parse(json.dumps(VIDEO_UPLOADED.latest.definition))
    reader = avro.io.DatumReader(schema)
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert str(decoded["video_id"]) == MINIMAL_UPLOAD["video_id"]


def test_bytes_that_are_not_avro_are_refused_with_a_code():
    with pytest.raises(NotAvroSingleObject) as info:
        codec.decode(VIDEO_UPLOADED, b"this is not avro at all")
    assert info.value.code == "not_avro"


def test_unknown_fingerprint_is_refused_with_a_code():
    data = codec.encode(VIDEO_UPLOADED, MINIMAL_EVENT)
    with pytest.raises(UnknownFingerprint) as info:
        codec.decode(VIDEO_UPLOADED, data[:2] + b"\x01" * 8 + data[10:])
    assert info.value.code == "unknown_fingerprint"


def test_a_fingerprint_of_another_topic_is_unknown_here():
    data = codec.encode(DEAD_LETTER, typed(DEAD_LETTER, sample(DEAD_LETTER.latest.definition)))
    with pytest.raises(UnknownFingerprint):
        codec.decode(VIDEO_UPLOADED, data)


@pytest.mark.parametrize("cut", [11, 30, -3])
def test_truncated_bodies_are_corrupt(cut):
    data = codec.encode(VIDEO_UPLOADED, typed(VIDEO_UPLOADED,
                                              sample(VIDEO_UPLOADED.latest.definition)))
    with pytest.raises(CorruptBody):
        codec.decode(VIDEO_UPLOADED, data[:cut])


def test_trailing_garbage_is_corrupt():
    data = codec.encode(VIDEO_UPLOADED, MINIMAL_EVENT)
    with pytest.raises(CorruptBody):
        codec.decode(VIDEO_UPLOADED, data + b"\x00\x00")


@pytest.mark.parametrize(("written", "read"), [
    ("6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    ("{6f9619ff-8b86-d011-b42d-00c04fc964ff}", "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    ("not-a-uuid", None),
])
def test_uuid_fields_come_back_canonical_or_the_record_is_corrupt(written, read):
    # Another writer may put any string in a uuid field; the decoder's fast path reads
    # ids as text, and must still normalise them as uuid.UUID would, or refuse them.
    plain = {**VIDEO_UPLOADED.latest.definition, "fields": [
        {**f, "type": "string"} if f["name"] == "video_id" else f
        for f in VIDEO_UPLOADED.latest.definition["fields"]]}
    body = io.BytesIO()
    body.write(MAGIC + spec_fingerprint(VIDEO_UPLOADED.latest.definition))
    fastavro.schemaless_writer(body, fastavro.parse_schema(plain),
                               {**MINIMAL_UPLOAD, "video_id": written},
                               strict_allow_default=True)
    if read is None:
        with pytest.raises(CorruptBody):
            codec.decode(VIDEO_UPLOADED, body.getvalue())
    else:
        assert codec.decode(VIDEO_UPLOADED, body.getvalue()).video_id == read


def test_an_event_of_another_class_is_refused_before_it_is_written():
    failed = StageFailed(event_id=MINIMAL_UPLOAD["event_id"], video_id=MINIMAL_UPLOAD["video_id"],
                         occurred_at=MINIMAL_EVENT.occurred_at, stage="transcode",
                         error_code="x", error_message="y")
    with pytest.raises(InvalidEvent):
        codec.encode(VIDEO_UPLOADED, failed)


def test_story_events_are_valid_for_the_schemas() -> None:
    codec = EventCodec(ALL_TOPICS)
    story = VideoStory()
    by_name = {t.name: t for t in ALL_TOPICS}
    steps = story.happy_path() + [story.failed(1), story.failed(2, stage="packaging"),
                                  story.cancelled(3), (DEAD_LETTER.name, dead_letter_event(None))]
    for topic, event in steps:
        schema = by_name[topic].latest.definition
        typed = codec.decode(by_name[topic], codec.encode(by_name[topic], event))
        assert typed == event, topic
        decoded, written = typed.to_record(), WRITTEN.get(event.event_id, event.to_record())
        # What the story wrote comes back unchanged; every field it left out has the
        # schema's default (so the story exercises the fields it means to).
        assert holds(decoded, written), (topic, written, decoded)
        defaults = {f["name"]: f["default"] for f in schema["fields"] if f["name"] not in written}
        assert {name: decoded[name] for name in defaults} == defaults, topic


def holds(decoded: Any, written: Any) -> bool:
    """`decoded` carries every value of `written` (records may gain defaulted fields)."""
    if isinstance(written, dict):
        return isinstance(decoded, dict) and all(
            name in decoded and holds(decoded[name], value) for name, value in written.items())
    if isinstance(written, list):
        return (isinstance(decoded, list) and len(decoded) == len(written)
                and all(holds(d, w) for d, w in zip(decoded, written, strict=True)))
    return bool(decoded == written)
