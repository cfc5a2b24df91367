"""Schemas evolve BACKWARD-compatibly: each version reads data written with the previous one.

Every released version stays in `schemas/<schema>/vN.avsc`; nothing is ever edited in place.
"""

import io

import fastavro
import pytest

from schemas import ALL_TOPICS, schema_versions
from tests.avro_samples import sample

SCHEMAS = sorted({t.schema for t in ALL_TOPICS})


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
