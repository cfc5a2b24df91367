"""The catalog's JSONB encoding of event values."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from schemas import schema_versions
from schemas.events import EVENT_TYPES
from services.catalog.jsonb import dump_bytes, dumps
from tests.avro_samples import sample
from tests.unit.catalog.stories import at


def test_jsonb_writes_event_values_json_cannot_hold() -> None:
    value = {"t": at(1), "raw": b"\x00\xff", "nan": float("nan"), "n": [float("inf"), 2]}
    assert json.loads(dumps(value)) == {
        "t": "2026-03-01T12:00:01+00:00", "raw": "AP8=", "nan": None, "n": [None, 2]}


@pytest.mark.parametrize("schema", sorted(EVENT_TYPES))
@pytest.mark.parametrize("pick_non_null", [True, False])
def test_an_event_is_written_as_the_record_it_writes_to_avro(schema: str,
                                                             pick_non_null: bool) -> None:
    # The timeline's details are the event itself, written without building its record.
    definition = schema_versions(schema)[-1].definition
    parsed = fastavro.parse_schema(definition)
    written = io.BytesIO()
    fastavro.schemaless_writer(written, parsed, sample(definition, pick_non_null=pick_non_null))
    read = fastavro.schemaless_reader(io.BytesIO(written.getvalue()), parsed)
    event = EVENT_TYPES[schema].from_record(read)
    assert dump_bytes(event) == dump_bytes(event.to_record())
