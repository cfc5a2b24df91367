"""Listing cursors: they round-trip and belong to one listing."""

from __future__ import annotations

import uuid

import pytest

from services.catalog.paging import BadCursor, decode_cursor, encode_cursor
from tests.unit.catalog.stories import at


def test_cursors_round_trip_and_refuse_another_listing() -> None:
    cursor = encode_cursor("videos", "created_at", "desc", [at(1), uuid.UUID(int=5)])
    assert decode_cursor(cursor, "videos", "created_at", "desc", 2) == [
        at(1).isoformat(), str(uuid.UUID(int=5))]
    with pytest.raises(BadCursor):
        decode_cursor(cursor, "videos", "priority", "desc", 3)
    with pytest.raises(BadCursor):
        decode_cursor("!!!", "videos", "created_at", "desc", 2)
