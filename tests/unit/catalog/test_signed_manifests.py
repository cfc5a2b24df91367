"""Manifest rewriting: every URL a player would fetch carries the token, nothing else
changes. The oracle is the set of URLs, parsed independently of the rewrite."""

import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from services.catalog.signed_manifests import (
    rewrite_dash,
    rewrite_hls,
    rewrite_storyboard,
    with_token,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_"

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="main",DEFAULT=YES,URI="audio/playlist.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="audio"
360p/playlist.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="360p/iframes.m3u8"
"""
MEDIA = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA",KEYFORMAT="identity"
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000,
seg_00001.m4s
#EXTINF:2.000,
seg_00002.m4s?x=1
#EXT-X-ENDLIST
"""


def _token_of(url):
    return parse_qs(urlsplit(url).query).get("token")


def test_every_hls_uri_carries_the_token_and_tags_stay():
    out = rewrite_hls(MASTER, TOKEN) + rewrite_hls(MEDIA, TOKEN)
    uris = re.findall(r'URI="([^"]*)"', out) + [
        line for line in out.splitlines() if line and not line.startswith("#")]
    fetched = [u for u in uris if not u.startswith("data:")]
    assert len(fetched) == 6
    assert all(_token_of(u) == [TOKEN] for u in fetched)
    assert "seg_00002.m4s?x=1&token=" in out
    assert 'URI="data:text/plain;base64,AAAA"' in out  # inline keys untouched
    assert [line for line in out.splitlines() if line.startswith("#EXTINF")] == [
        "#EXTINF:2.000,"] * 2


def test_line_endings_survive():
    assert rewrite_hls("#EXTM3U\r\na.m4s\r\n", "t") == "#EXTM3U\r\na.m4s?token=t\r\n"


MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><AdaptationSet>
<Representation id="360p"><SegmentTemplate timescale="1" initialization="360p/init.mp4"
 media="360p/seg_$Number%05d$.m4s" startNumber="1"/></Representation>
<Representation id="text-0"><BaseURL>captions/en.vtt</BaseURL></Representation>
</AdaptationSet></Period></MPD>
"""


def test_every_dash_url_carries_the_token_and_the_mpd_stays_valid_xml():
    root = ET.fromstring(rewrite_dash(MPD, TOKEN).split("\n", 1)[1])
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    template = root.find(".//d:SegmentTemplate", ns)
    assert _token_of(template.get("initialization")) == [TOKEN]
    assert template.get("media").startswith("360p/seg_$Number%05d$.m4s?token=")
    assert _token_of(root.find(".//d:BaseURL", ns).text) == [TOKEN]
    assert root.find(".//d:SegmentTemplate", ns).get("timescale") == "1"


def test_a_second_query_parameter_is_escaped_in_xml():
    out = rewrite_dash('<S media="a.m4s?x=1"/>', TOKEN)
    assert ET.fromstring(out).get("media") == f"a.m4s?x=1&token={TOKEN}"


def test_storyboard_cues_keep_their_fragment():
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nsprite.jpg#xywh=0,0,160,90\n"
    out = rewrite_storyboard(vtt, TOKEN)
    assert f"sprite.jpg?token={TOKEN}#xywh=0,0,160,90" in out
    assert out.startswith("WEBVTT\n\n00:00.000 --> 00:02.000\n")


def test_captions_text_is_not_touched():
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nHello there.\n"
    assert rewrite_storyboard(vtt, TOKEN) == vtt


def test_with_token():
    assert with_token("a.m4s", "t") == "a.m4s?token=t"
    assert with_token("a.jpg#x", "t") == "a.jpg?token=t#x"
    assert with_token("data:x", "t") == "data:x"
