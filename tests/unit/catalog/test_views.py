"""Playback links: S3 URIs of the bucket map to media paths."""

from __future__ import annotations

from services.catalog.views import MediaLinks, playback
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
