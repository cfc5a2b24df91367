"""Media serving rules: content types, cache lifetimes, what may be served, and ranges."""

from __future__ import annotations

import uuid

import pytest

from services.catalog.media import cache_control, content_type, servable, single_range


@pytest.mark.parametrize(("key", "ctype", "cache"), [
    ("packages/v/1/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"),
    ("packages/v/1/manifest.mpd", "application/dash+xml", "public, max-age=60"),
    ("packages/v/1/720p/seg_0001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"),
    ("packages/v/1/720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"),
    ("packages/v/1/audio/seg_1.m4a", "audio/mp4", "public, max-age=31536000, immutable"),
    ("renditions/v/1/audio.mp3", "audio/mpeg", "public, max-age=31536000, immutable"),
    ("renditions/v/1/thumbnails/t.jpg", "image/jpeg", "public, max-age=31536000, immutable"),
    ("renditions/v/1/thumbnails/storyboard.vtt", "text/vtt",
     "public, max-age=31536000, immutable"),
    ("packages/v/1/metadata.json", "application/json", "public, max-age=31536000, immutable"),
])
def test_media_types_and_cache_lifetimes(key: str, ctype: str, cache: str) -> None:
    assert content_type(key, "binary/octet-stream") == ctype
    assert cache_control(key) == cache


def test_media_serves_playback_objects_only() -> None:
    prefixes = ("packages/", "renditions/")
    assert servable("packages/v/1/master.m3u8", prefixes)
    assert not servable(f"sources/{uuid.uuid4()}/original", prefixes)
    assert servable(f"sources/{uuid.uuid4()}/thumbnail.jpg", prefixes)
    assert not servable("packages/../sources/x/original", prefixes)
    assert single_range("bytes=0-99") == "bytes=0-99" and single_range("bytes=-5") == "bytes=-5"
    assert single_range("bytes=0-1,5-9") is None and single_range("bytes=-") is None
