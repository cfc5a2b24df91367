"""The compiled Avro reader gives exactly what fastavro's reader gives, for every topic's
schema, and refuses what fastavro refuses (the codec turns that into `corrupt_record`)."""

from __future__ import annotations

import io
import math
from typing import Any

import fastavro
import pytest

from schemas import ALL_TOPICS, DEAD_LETTER
from services.shared.avro_reader import Unsupported, compile_reader
from services.shared.codec import HEADER_LEN, CorruptBody, EventCodec
from tests.avro_samples import sample
from tests.unit.catalog.stories import VideoStory, dead_letter_event

SCHEMAS = list({t.schema: t for t in ALL_TOPICS}.values())  # one topic per schema


def both(schema: dict[str, Any], record: dict[str, Any]) -> tuple[Any, Any]:
    """(fastavro's record, the compiled reader's) for `record` written by fastavro."""
    parsed = fastavro.parse_schema(schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    data = b"\x01\x02" + buf.getvalue()  # the reader starts at any position
    expected = fastavro.schemaless_reader(io.BytesIO(data[2:]), parsed)
    got, end = compile_reader(parsed)(data, 2)
    assert end == len(data)
    return expected, got


@pytest.mark.parametrize("topic", SCHEMAS, ids=lambda t: t.schema)
@pytest.mark.parametrize("populated", [True, False], ids=["every branch set", "nulls"])
def test_every_schema_reads_as_fastavro_reads_it(topic, populated) -> None:  # type: ignore[no-untyped-def]
    definition = topic.latest.definition
    record = sample(definition, pick_non_null=populated)
    expected, got = both(definition, record)
    assert got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_story_events_decode_to_the_same_events_as_through_fastavro() -> None:
    codec = EventCodec(ALL_TOPICS)
    by_name = {t.name: t for t in ALL_TOPICS}
    story = VideoStory()
    steps = story.happy_path() + [story.failed(1), story.cancelled(3),
                                  (DEAD_LETTER.name, dead_letter_event(story.video_id))]
    for name, event in steps:
        topic = by_name[name]
        data = codec.encode(topic, event)
        writer = codec._writers[topic.schema][data[2:HEADER_LEN]]
        assert writer.compiled is not None, name  # the fast path is the one taken
        via_fastavro = fastavro.schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.plain)
        assert codec.decode_record(topic, data) == via_fastavro, name
        assert codec.decode(topic, data) == event, name


EDGES = {"type": "record", "name": "Edges", "fields": [
    {"name": "big", "type": "long"}, {"name": "small", "type": "long"},
    {"name": "i", "type": "int"}, {"name": "d", "type": "double"},
    {"name": "f", "type": "float"}, {"name": "b", "type": "boolean"},
    {"name": "s", "type": "string"}, {"name": "raw", "type": "bytes"},
    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["x", "y", "z"]}},
    {"name": "many", "type": {"type": "array", "items": ["null", "string"]}},
    {"name": "none", "type": {"type": "array", "items": "long"}},
    {"name": "when", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "nested", "type": {"type": "record", "name": "N",
                                "fields": [{"name": "n", "type": "int"}]}},
    {"name": "again", "type": "N"},  # a named type referenced by name
]}


def test_edge_values_read_as_fastavro_reads_them() -> None:
    record = {"big": 2**63 - 1, "small": -(2**63), "i": -1, "d": math.inf, "f": 0.5,
              "b": True, "s": "héllo ✓", "raw": b"\x00\xff", "e": "z",
              "many": [None, "a", ""] * 50, "none": [], "when": -1,
              "id": "12345678-1234-5678-1234-567812345678", "nested": {"n": 3},
              "again": {"n": -4}}
    expected, got = both(EDGES, record)
    assert got == expected
    assert got["when"] == expected["when"] and got["when"].tzinfo is not None


def test_an_array_written_in_sized_blocks_reads_as_fastavro_reads_it() -> None:
    schema = {"type": "record", "name": "A",
              "fields": [{"name": "a", "type": {"type": "array", "items": "int"}}]}
    # Two blocks: count -2 with its byte size, then count 1, then the end (zig-zag varints).
    data = bytes([3, 2, 2, 4, 2, 6, 0])
    expected = fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(schema))
    assert expected == {"a": [1, 2, 3]}
    assert compile_reader(schema)(data, 0) == (expected, len(data))


@pytest.mark.parametrize("data", [
    b"", b"\x80",  # nothing, or a varint cut short
    b"\x01",  # a negative string length
    b"\x06ab",  # a string cut short: read past the end
    b"\x02\xff",  # not UTF-8
], ids=["empty", "varint cut", "negative length", "short string", "bad utf-8"])
def test_a_broken_body_raises_or_reads_past_the_end(data) -> None:  # type: ignore[no-untyped-def]
    read = compile_reader({"type": "record", "name": "S",
                           "fields": [{"name": "s", "type": "string"}]})
    try:
        _, end = read(data, 0)
    except (IndexError, ValueError):  # UnicodeDecodeError is a ValueError
        return
    assert end > len(data)  # the codec's length check refuses it


def test_a_union_or_enum_index_out_of_range_raises() -> None:
    union = compile_reader({"type": "record", "name": "U",
                            "fields": [{"name": "u", "type": ["null", "int"]}]})
    enum = compile_reader({"type": "record", "name": "En", "fields": [
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["x"]}}]})
    for read, data in ((union, b"\x04"), (union, b"\x01"), (enum, b"\x02"), (enum, b"\x01")):
        with pytest.raises((ValueError, IndexError)):
            read(data, 0)


def test_types_it_does_not_compile_are_refused() -> None:
    with pytest.raises(Unsupported):
        compile_reader({"type": "record", "name": "M",
                        "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}]})


def test_the_codec_refuses_a_body_that_reads_past_its_end() -> None:
    codec = EventCodec(ALL_TOPICS)
    topic = DEAD_LETTER
    data = codec.encode(topic, dead_letter_event(None))
    with pytest.raises(CorruptBody):
        codec.decode(topic, data[:-3])
    with pytest.raises(CorruptBody):
        codec.decode(topic, data + b"\x00")
