"""Schemas evolve BACKWARD-compatibly: each version reads data written with the previous one.

Every released version stays in `schemas/<schema>/vN.avsc`; nothing is ever edited in place.
"""

import io

import fastavro
import pytest

from schemas import ALL_TOPICS, schema_versions
from services.shared.codec import EventCodec, spec_fingerprint
from tests.avro_samples import sample
from tests.recorded_events import load, recording_path

SCHEMAS = sorted({t.schema for t in ALL_TOPICS})
#: One topic per schema, to decode its recordings with (topics may share a schema).
TOPIC_OF = {t.schema: t for t in reversed(ALL_TOPICS)}


def reads_previous(old: dict, new: dict) -> bool:
    """True when a reader on `new` resolves data written with `old` (both sample shapes)."""
    for pick_non_null in (True, False):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(old),
                                   sample(old, pick_non_null=pick_non_null))
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, fastavro.parse_schema(old), fastavro.parse_schema(new))
        except Exception:
            return False
    return True


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_new_version_reads_the_previous_versions_data(schema):
    versions = schema_versions(schema)
    assert [v.version for v in versions] == list(range(1, len(versions) + 1)), "no gaps"
    for old, new in zip(versions, versions[1:], strict=False):
        assert reads_previous(old.definition, new.definition), f"{schema} v{new.version}"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_field_added_after_v1_has_a_default(schema):
    versions = schema_versions(schema)
    first = {f["name"] for f in versions[0].definition["fields"]}
    for version in versions[1:]:
        for f in version.definition["fields"]:
            if f["name"] not in first:
                assert "default" in f, f"{schema} v{version.version}: {f['name']} lacks a default"


def test_the_checker_catches_a_breaking_change():
    old = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "string"}]}
    breaking = {"type": "record", "name": "E", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "int"}]}
    compatible = {"type": "record", "name": "E", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]}
    assert not reads_previous(old, breaking)
    assert reads_previous(old, compatible)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_released_version_has_a_recording_of_events_it_wrote(schema):
    for version in schema_versions(schema):
        assert recording_path(schema, version.version).exists(), (
            f"{schema} v{version.version} has no recorded events: "
            "run `python -m tests.recorded_events`")
        for data, _ in load(schema, version.version):
            # Written with exactly that version: its file was not edited after release.
            assert data[2:10] == spec_fingerprint(version.definition), (schema, version.version)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_current_reader_decodes_what_every_version_wrote(schema):
    codec = EventCodec(ALL_TOPICS)
    topic = TOPIC_OF[schema]
    latest = {f["name"]: f for f in topic.latest.definition["fields"]}
    decoded_any = 0
    for version in schema_versions(schema):
        for data, written in load(schema, version.version):
            decoded = codec.decode(topic, data).to_record()
            # What the old version wrote comes back; fields added since take their default.
            assert {k: decoded[k] for k in written if k in latest} == {
                k: v for k, v in written.items() if k in latest}, (schema, version.version)
            added = {name: f["default"] for name, f in latest.items() if name not in written}
            assert {name: decoded[name] for name in added} == added, (schema, version.version)
            decoded_any += 1
    assert decoded_any >= 2 * len(schema_versions(schema))
