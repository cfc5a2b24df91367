"""The catalog's JSONB encoding of event values."""

from __future__ import annotations

import json

from services.catalog.jsonb import dumps
from tests.unit.catalog.stories import at


def test_jsonb_writes_event_values_json_cannot_hold() -> None:
    value = {"t": at(1), "raw": b"\x00\xff", "nan": float("nan"), "n": [float("inf"), 2]}
    assert json.loads(dumps(value)) == {
        "t": "2026-03-01T12:00:01+00:00", "raw": "AP8=", "nan": None, "n": [None, 2]}
