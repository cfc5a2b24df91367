"""Listing cursors: they round-trip and belong to one listing."""

from __future__ import annotations

import uuid

import pytest

from services.catalog.paging import (
    BadCursor,
    Order,
    decode_cursor,
    encode_cursor,
    page,
    page_rows,
)
from services.catalog.queries import video_sort
from tests.unit.catalog.stories import at


def test_cursors_round_trip_and_refuse_another_listing() -> None:
    cursor = encode_cursor("videos", "created_at", "desc", [at(1), uuid.UUID(int=5)])
    assert decode_cursor(cursor, "videos", "created_at", "desc", 2) == [
        at(1).isoformat(), str(uuid.UUID(int=5))]
    with pytest.raises(BadCursor):
        decode_cursor(cursor, "videos", "priority", "desc", 3)
    with pytest.raises(BadCursor):
        decode_cursor("!!!", "videos", "created_at", "desc", 2)


@pytest.mark.parametrize("sort,order", [("created_at", "desc"), ("priority", "asc"),
                                        ("completed_at", "asc")])
def test_the_cursor_is_the_one_dict_rows_made(sort: str, order: Order) -> None:
    key = video_sort(sort, order)
    parts = len(key.parts)
    keys = [[f"2026-11-2{n} 10:00:00+00", str(uuid.UUID(int=n)), "x"][-parts:]
            for n in range(4)]
    tuples = [(n, *k) for n, k in enumerate(keys)]
    dicts = [{"n": n, **{f"_k{i}": v for i, v in enumerate(k)}} for n, k in enumerate(keys)]
    rows, cursor = page_rows(list(tuples), 3, key, "videos", order)
    expected_rows, expected = page(dicts, 3, key, "videos", order)
    assert cursor == expected and cursor is not None
    assert [r[0] for r in rows] == [r["n"] for r in expected_rows]
    assert page_rows(list(tuples), 4, key, "videos", order) == (tuples, None)
