"""A listing's page, from the columns shaped in SQL (`queries.LISTED_COLUMNS`) and rendered
by orjson, is byte for byte the page `views.video_summary` and `render` made of whole rows,
and its cursor is the same."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.catalog.paging import page, page_rows
from services.catalog.queries import LISTED_COLUMNS, video_sort
from services.catalog.rendering import render, render_plain, same_in_orjson
from services.catalog.views import MediaLinks, listed_videos, video_summary

LINKS = MediaLinks("reelflow", "https://cdn.example")
T = datetime(2026, 11, 21, 23, 40, 1, 123456, tzinfo=UTC)


def whole_row(n: int, **changes: Any) -> dict[str, Any]:
    """A `videos` row as `SELECT *` with psycopg's dict_row gives it."""
    row = {
        "video_id": uuid.UUID(int=n), "status": "ready", "attempt": 1,
        "title": f"Café № {n} – 東京 \"quoted\"\n", "owner": "acme", "priority": 5,
        "user_metadata": {"title": "x", "description": "long " * 50,
                          "tags": ["music", "pets"]},
        "created_at": T - timedelta(minutes=n), "updated_at": T,
        "completed_at": T.replace(microsecond=0), "duration_seconds": 12.345,
        "source_size_bytes": 12_345_678, "progress": {"encode": 100, "verify": 99.5},
        "error_code": None, "latency_ms": 4200, "current_package_attempt": 1,
        "thumbnails": {"primary": f"s3://reelflow/renditions/{n}/thumb 0.jpg",
                       "images": [{"uri": "s3://reelflow/x.jpg"}] * 10},
        "custom_thumbnail_uri": None,
    }
    return {**row, **changes}


def listed_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """What the listing's SELECT gives for the same row (its SQL expressions, in Python)."""
    tags = row["user_metadata"].get("tags", ...)
    primary = (row["thumbnails"] or {}).get("primary") or None
    shaped = {
        **row, "video_id": str(row["video_id"]),
        "tags": None if tags is ... else json.dumps(tags),
        "progress": json.dumps(row["progress"]),
        "playable": row["current_package_attempt"] is not None,
        "thumbnail": primary or row["custom_thumbnail_uri"],
    }
    return (*(shaped[c] for c in LISTED_COLUMNS), row["created_at"].isoformat(),
            str(row["video_id"]))


ROWS = [
    whole_row(1),
    whole_row(2, status="uploaded", completed_at=None, duration_seconds=None,
              current_package_attempt=None, thumbnails=None, progress={}),
    whole_row(3, user_metadata={}, thumbnails={"primary": ""},
              custom_thumbnail_uri="s3://reelflow/sources/3/custom.png"),
    whole_row(4, user_metadata={"tags": ["a", 5, 2.5, True, None, {"k": [1]}]},
              thumbnails={"primary": "s3://elsewhere/thumb.jpg"}),
    whole_row(5, user_metadata={"tags": "not a list"}, error_code="source_unreadable",
              status="failed", duration_seconds=1e16, latency_ms=None,
              created_at=datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))),
    whole_row(6, user_metadata={"tags": None}, duration_seconds=-0.0,
              updated_at=datetime(2026, 1, 1, 1, 2, 3, 1, tzinfo=timezone(timedelta(hours=-3)))),
]


def old_page(rows: list[dict[str, Any]]) -> bytes:
    items = [video_summary(r, LINKS) for r in rows]
    for item in items:
        item["queue"] = None
    return render({"items": items, "next_cursor": None, "limit": 50, "sort": "created_at",
                   "order": "desc"})


def new_page(rows: list[dict[str, Any]]) -> tuple[bytes, bool]:
    items, plain = listed_videos([listed_row(r) for r in rows], LINKS)
    for item in items:
        item["queue"] = None
    content = {"items": items, "next_cursor": None, "limit": 50, "sort": "created_at",
               "order": "desc"}
    return (render_plain(content) if plain else render(content)), plain


def test_a_page_renders_byte_for_byte_as_the_summaries_of_whole_rows() -> None:
    body, plain = new_page(ROWS)
    assert plain
    assert body == old_page(ROWS)


@pytest.mark.parametrize("duration", [1e-05, 3.2e-07, -1e-06, 9.99e-05])
def test_a_float_orjson_writes_otherwise_renders_by_the_stdlib(duration: float) -> None:
    rows = [whole_row(1, duration_seconds=duration)]
    body, plain = new_page(rows)
    assert not plain and body == old_page(rows)
    rows = [whole_row(1, progress={"encode": duration})]
    body, plain = new_page(rows)
    assert not plain and body == old_page(rows)


def test_what_orjson_reads_or_writes_otherwise_goes_the_stdlibs_way() -> None:
    berlin_1700 = datetime(1700, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))  # +00:53:28
    for changes in ({"progress": {"encode": 2**64}}, {"progress": {"encode": 2**70}},
                    {"user_metadata": {"tags": [2**64, "x"]}},
                    {"created_at": berlin_1700}, {"completed_at": berlin_1700}):
        rows = [whole_row(1), whole_row(2, **changes)]
        body, plain = new_page(rows)
        assert not plain and body == old_page(rows), changes


def test_a_non_finite_number_is_still_refused() -> None:
    with pytest.raises(ValueError):
        new_page([whole_row(1, duration_seconds=math.nan)])


def test_same_in_orjson_and_render_plain_agree_with_render() -> None:
    for value in (0.0, 1e-4, 0.1, 1e15, 1e16, 1.5e18, 2**63 - 1, -2**63, "x\u2028\x7f\x00",
                  [1, [2.5, {"a": None}]], {"k": True}):
        assert same_in_orjson(value)
        assert render_plain({"v": value}) == render({"v": value})
    for value in (1e-5, math.inf, -math.inf, math.nan, [1e-7], {"k": {"j": 1e-9}}, T, 2**64,
                  1e19, (1, 2),
                  uuid.UUID(int=1), {1: "int key"}):
        assert not same_in_orjson(value)
    # Beyond 64 bits orjson refuses, and the stdlib writes it.
    assert render_plain({"v": 2**70}) == render({"v": 2**70})


@pytest.mark.parametrize("sort,order", [("created_at", "desc"), ("priority", "asc"),
                                        ("completed_at", "asc")])
def test_the_cursor_is_the_one_dict_rows_made(sort: str, order: str) -> None:
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
