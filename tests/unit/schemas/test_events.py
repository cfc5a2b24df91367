"""Each typed event class matches the latest `.avsc` of its schema, field for field.

The expectations come from the schema JSON (names, Avro types, nullability, defaults),
never from the classes: a field added to one and not the other, a wrong type, a lost
default, or a default that differs fails here.
"""

import dataclasses
import io
import types
import typing
from datetime import UTC, datetime
from enum import Enum

import fastavro
import pytest

from schemas import ALL_TOPICS, schema_versions
from schemas.events import EVENT_TYPES, MediaType, RenditionDone, StageFailed, VideoUploaded
from schemas.ids import derived_event_id
from tests.avro_samples import sample

SCHEMAS = sorted({t.schema for t in ALL_TOPICS})
_PRIMITIVE = {"string": str, "boolean": bool, "int": int, "long": int, "double": float,
              "float": float, "bytes": bytes}
_NO_DEFAULT = object()


def _classes(cls, found=None):
    """Every nested record and enum class reachable from `cls`, by name."""
    found = {} if found is None else found
    found[cls.__name__] = cls
    if dataclasses.is_dataclass(cls):
        for hint in typing.get_type_hints(cls).values():
            for arg in (hint, *typing.get_args(hint), *(typing.get_args(a) for a in
                                                         typing.get_args(hint))):
                for kind in (arg if isinstance(arg, tuple) else (arg,)):
                    if isinstance(kind, type) and kind.__name__ not in found and (
                            dataclasses.is_dataclass(kind) or issubclass(kind, Enum)):
                        _classes(kind, found)
    return found


def _check_type(avro, hint, classes, where):
    """Assert `hint` is the Python mirror of Avro type `avro`."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        assert len(branches) == 1, f"{where}: only nullable unions are mirrored"
        if "null" in avro:
            assert isinstance(hint, types.UnionType), f"{where}: nullable, got {hint}"
            args = set(typing.get_args(hint))
            assert type(None) in args and len(args) == 2, f"{where}: {hint}"
            (hint,) = args - {type(None)}
        return _check_type(branches[0], hint, classes, where)
    assert not (isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)), \
        f"{where}: not nullable in Avro, {hint} in the class"
    if isinstance(avro, str):
        if avro in _PRIMITIVE:
            assert hint is _PRIMITIVE[avro], f"{where}: {avro} -> {hint}"
            return
        avro = classes["avro"][avro.rsplit(".", 1)[-1]]
    logical = avro.get("logicalType")
    if logical == "uuid":
        assert hint is str, f"{where}: uuid -> {hint}"
    elif logical == "timestamp-millis":
        assert hint is datetime, f"{where}: timestamp -> {hint}"
    elif avro["type"] == "array":
        assert typing.get_origin(hint) is tuple, f"{where}: array -> {hint}"
        item, more = typing.get_args(hint)
        assert more is Ellipsis, f"{where}: {hint}"
        _check_type(avro["items"], item, classes, f"{where}[]")
    elif avro["type"] == "enum":
        classes["avro"][avro["name"]] = avro
        assert hint is classes["py"][avro["name"]], f"{where}: enum {avro['name']} -> {hint}"
        assert [m.value for m in hint] == avro["symbols"], f"{where}: symbols"
    elif avro["type"] == "record":
        classes["avro"][avro["name"]] = avro
        assert hint is classes["py"][avro["name"]], f"{where}: record {avro['name']} -> {hint}"
        _check_record(avro, hint, classes)
    else:
        _check_type(avro["type"], hint, classes, where)


def _expected_default(field):
    if "default" not in field:
        return _NO_DEFAULT
    default = field["default"]
    return tuple(default) if isinstance(default, list) else default


def _check_record(avro, cls, classes):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == {f["name"] for f in avro["fields"]}, avro["name"]
    hints = typing.get_type_hints(cls)
    for spec in avro["fields"]:
        where = f"{avro['name']}.{spec['name']}"
        _check_type(spec["type"], hints[spec["name"]], classes, where)
        field = fields[spec["name"]]
        actual = (field.default if field.default is not dataclasses.MISSING else
                  field.default_factory() if field.default_factory is not dataclasses.MISSING
                  else _NO_DEFAULT)
        expected = _expected_default(spec)
        assert actual == expected and type(actual) is type(expected), \
            f"{where}: default {actual!r}, schema says {expected!r}"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_class_matches_its_latest_schema_field_for_field(schema):
    latest = schema_versions(schema)[-1].definition
    cls = EVENT_TYPES[schema]
    assert cls.__name__ == latest["name"]
    _check_record(latest, cls, {"avro": {}, "py": _classes(cls)})


def test_every_topic_names_the_class_of_its_schema():
    for topic in ALL_TOPICS:
        assert topic.event_type is EVENT_TYPES[topic.schema], topic.name
    assert set(EVENT_TYPES) == set(SCHEMAS)


def test_the_checker_catches_a_class_that_drifted():
    drifted = {"type": "record", "name": "StageFailed", "fields": [
        *schema_versions("stage-failed")[-1].definition["fields"],
        {"name": "retryable", "type": "boolean", "default": False}]}
    with pytest.raises(AssertionError):
        _check_record(drifted, StageFailed, {"avro": {}, "py": _classes(StageFailed)})
    retyped = {**drifted, "fields": [
        {**f, "type": "long"} if f["name"] == "attempt" else f
        for f in schema_versions("stage-failed")[-1].definition["fields"]]}
    _check_record(retyped, StageFailed, {"avro": {}, "py": _classes(StageFailed)})  # int~long
    nullable = {**drifted, "fields": [
        {**f, "type": ["null", "string"]} if f["name"] == "stage" else f
        for f in schema_versions("stage-failed")[-1].definition["fields"]]}
    with pytest.raises(AssertionError):
        _check_record(nullable, StageFailed, {"avro": {}, "py": _classes(StageFailed)})


def _sample_read(schema, pick_non_null):
    """A sample record of the schema's latest version, written and read by fastavro:
    (the parsed schema, its bytes, the record as read, ids as text as the codec has them)."""
    definition = schema_versions(schema)[-1].definition
    parsed = fastavro.parse_schema(definition)
    written = io.BytesIO()
    fastavro.schemaless_writer(written, parsed, sample(definition, pick_non_null=pick_non_null))
    read = fastavro.schemaless_reader(io.BytesIO(written.getvalue()), parsed)
    read = {k: str(v) if k.endswith("_id") and v is not None else v for k, v in read.items()}
    return parsed, written.getvalue(), read


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("pick_non_null", [True, False])
def test_a_record_fastavro_reads_comes_back_as_the_class_and_writes_the_same_bytes(
        schema, pick_non_null):
    parsed, written, read = _sample_read(schema, pick_non_null)
    event = EVENT_TYPES[schema].from_record(read)
    again = io.BytesIO()
    fastavro.schemaless_writer(again, parsed, event.to_record())
    assert again.getvalue() == written


def test_nested_records_and_enums_are_typed_after_reading():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = RenditionDone.from_record({
        "event_id": "e", "video_id": "v", "occurred_at": at, "rendition": "360p",
        "media_type": "AUDIO", "expected_renditions": ["360p", "audio"], "uri": "s3://b/k",
        "quality": {"vmaf": 91.5}, "artifacts": [{"name": "a", "uri": "s3://b/a",
                                                  "content_type": "image/jpeg"}]})
    assert event.media_type is MediaType.AUDIO
    assert event.expected_renditions == ("360p", "audio")
    assert event.quality is not None and event.quality.vmaf == 91.5
    assert event.quality.below_floor is False
    assert event.artifacts[0].content_type == "image/jpeg" and event.artifacts[0].size_bytes == 0
    record = event.to_record()
    assert record["media_type"] == "AUDIO" and record["expected_renditions"] == ["360p", "audio"]
    assert record["quality"]["vmaf"] == 91.5 and record["artifacts"][0]["sha256"] == ""


def test_one_constructor_builds_a_stage_failure_from_its_cause():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    upload = VideoUploaded(event_id="11111111-1111-1111-1111-111111111111", video_id="v",
                           occurred_at=at, source_uri="s3://b/k", attempt=3)
    failed = StageFailed.after(upload, stage="transcode", error_code="source_missing",
                               error_message="gone", at=at)
    assert failed == StageFailed(
        event_id=derived_event_id("11111111-1111-1111-1111-111111111111", "failed"),
        video_id="v", occurred_at=at, attempt=3, stage="transcode",
        error_code="source_missing", error_message="gone")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_from_record_builds_what_the_constructor_builds(schema):
    # The oracle is the dataclass' own __init__, fed the fields converted by hand.
    cls = EVENT_TYPES[schema]
    event = cls.from_record(_sample_read(schema, pick_non_null=True)[2])
    assert event == cls(**{f.name: getattr(event, f.name) for f in dataclasses.fields(cls)})
    assert dataclasses.replace(event) == event and hash(event) == hash(dataclasses.replace(event))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.event_id = "other"


def test_from_record_defaults_what_is_missing_and_refuses_a_missing_required_field():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = VideoUploaded.from_record({"event_id": "e", "video_id": "v", "occurred_at": at,
                                       "source_uri": "s3://b/k", "not_a_field": 1})
    assert event == VideoUploaded(event_id="e", video_id="v", occurred_at=at,
                                  source_uri="s3://b/k")
    assert VideoUploaded.from_record({**event.to_record(), "renditions": None}).renditions is None
    with pytest.raises(TypeError, match="'source_uri'"):
        VideoUploaded.from_record({"event_id": "e", "video_id": "v", "occurred_at": at})
