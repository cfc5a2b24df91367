"""Binary COPY's dumpers for the values read-model rows hold, and a table's shape."""

from __future__ import annotations

import json
import uuid

import pytest

from services.catalog.copying import JsonbObjectBinaryDumper, TableShape, UuidTextBinaryDumper
from tests.unit.catalog.stories import at


def test_a_uuid_is_written_as_its_bytes_from_any_text_postgres_reads() -> None:
    dumper = UuidTextBinaryDumper(str)
    value = uuid.UUID("6b0c4a8e-7d5e-4a8b-9a57-1f6f0b9d2c11")
    for text in (str(value), str(value).upper(), "{" + str(value) + "}", value.hex,
                 f"urn:uuid:{value}"):
        assert dumper.dump(text) == value.bytes, text
    assert dumper.dump(value) == value.bytes
    for garbage in ("6b0c4a8e-7d5e-4a8b-9a57-1f6f0b9d2cxx", "not a uuid", ""):
        with pytest.raises(ValueError):
            dumper.dump(garbage)


def test_a_jsonb_value_is_the_version_byte_and_the_catalogs_json() -> None:
    dumped = JsonbObjectBinaryDumper(dict).dump({"t": at(1), "nan": float("nan")})
    assert dumped[:1] == b"\x01"
    assert json.loads(dumped[1:]) == {"t": "2026-03-01T12:00:01+00:00", "nan": None}


def test_a_tables_shape_has_its_types_and_its_primary_key_in_table_order() -> None:
    shape = TableShape.of([("video_id", 2950, True), ("attempt", 23, True),
                           ("uri", 25, False), ("rendition", 25, True)])
    assert shape.key == ("video_id", "attempt", "rendition")
    assert shape.oids(["uri", "video_id"]) == [25, 2950]
