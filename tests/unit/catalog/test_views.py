"""Playback links: S3 URIs of the bucket map to media paths. A listing's page, from the
columns shaped in SQL (`queries.LISTED_COLUMNS`) and rendered by orjson, is byte for byte
the page `video_summary` and `render` made of whole rows."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.catalog.queries import LISTED_COLUMNS
from services.catalog.rendering import render, render_plain
from services.catalog.views import MediaLinks, listed_videos, playback, video_summary
from tests.unit.catalog.stories import VideoStory


def test_playback_urls_map_s3_uris_of_the_bucket_to_media_paths() -> None:
    links = MediaLinks("reelflow")
    assert links.url("s3://reelflow/packages/v/1/master.m3u8") == "/media/packages/v/1/master.m3u8"
    assert links.url("s3://elsewhere/packages/v/1/master.m3u8") is None
    assert MediaLinks("reelflow", "https://cdn.example/").url("s3://reelflow/a b.mp4") == (
        "https://cdn.example/media/a%20b.mp4")
    story = VideoStory()
    _, package = story.transcoded(15)
    _, mp3 = story.rendition("mp3", 4)
    _, hd = story.rendition("720p", 4)
    urls = playback({"thumbnails": None}, package.to_record(), [mp3.to_record(), hd.to_record()],
                    links)
    assert urls["hls"].endswith("/1/master.m3u8") and urls["dash"].endswith("manifest.mpd")
    assert urls["mp3"].endswith("audio.mp3")
    assert urls["mp4"][0]["url"] == f"/media/packages/{story.video_id}/1/720p.mp4"


def test_a_url_is_what_quoting_the_key_gives_whatever_the_key() -> None:
    from urllib.parse import quote

    def reference(links: MediaLinks, uri: str | None) -> str | None:
        if not uri or not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[5:].partition("/")
        if bucket != links.bucket or not key:
            return None
        return f"{links.base_url.rstrip('/')}/media/{quote(key)}"

    uris = [None, "", "s3://", "s3://reelflow", "s3://reelflow/", "s3://reelflowx/a",
            "s3://reelflow/a/b_c-d.e~f/1080p.mp4", "s3://reelflow/a b/ü?#%.mp4",
            "s3://reelflow//double", "s3://other/a", "http://reelflow/a", "s3://reelflow/a+b"]
    for links in (MediaLinks("reelflow"), MediaLinks("reelflow", "https://cdn.example//")):
        for uri in uris:
            assert links.url(uri) == reference(links, uri), uri


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


def test_finite_columns_finds_a_nan_or_infinity_in_any_row_of_a_video() -> None:
    from services.catalog.views import finite_columns

    def video(**floats: float) -> dict[str, Any]:
        return {**whole_row(1), "renditions": [{"vmaf": floats.get("vmaf", 96.7)}],
                "packages": [{"duration_seconds": floats.get("package", 12.0)}],
                "duration_seconds": floats.get("duration", 12.3),
                "user_metadata": {"n": 1e-300}}

    assert finite_columns(video())
    for bad in (math.nan, math.inf, -math.inf):
        assert not finite_columns(video(vmaf=bad))
        assert not finite_columns(video(package=bad))
        assert not finite_columns(video(duration=bad))
