"""Ingest refuses what comes with a source (metadata, priority, thumbnails) with a code and a
sentence saying what was wrong; the source's own content rules are tested with them, in
tests/unit/shared/media/test_rules.py."""

import pytest

from services.ingest.errors import Rejection
from services.ingest.validation import (
    parse_metadata,
    parse_priority,
    source_info,
    thumbnail_kind,
)
from services.shared.media.probe_parser import AudioStream, SourceProbe, VideoStream


def test_source_info_carries_the_probed_facts():
    info = source_info(SourceProbe(
        container="mov,mp4,m4a,3gp,3g2,mj2", duration=10.0, bitrate=None,
        video=VideoStream(index=0, codec="h264", width=1920, height=1080, fps=25.0,
                          bitrate=None, pix_fmt="yuv420p"),
        audio=AudioStream(index=1, codec="aac", channels=2, sample_rate=48000, bitrate=128000)))
    assert info["video"]["width"] == 1920 and info["audio"]["sample_rate"] == 48000


@pytest.mark.parametrize(("raw", "expected"), [(None, 5), ("", 5), ("1", 1), ("10", 10)])
def test_priority_defaults_to_5_and_accepts_1_to_10(raw, expected):
    assert parse_priority(raw) == expected


@pytest.mark.parametrize("raw", ["0", "11", "high"])
def test_priority_outside_1_to_10_is_refused(raw):
    with pytest.raises(Rejection) as info:
        parse_priority(raw)
    assert info.value.code == "invalid_priority"


def test_metadata_must_be_a_json_object_with_string_tags():
    assert parse_metadata('{"title": "t", "tags": ["a"], "n": 3}')["n"] == 3
    for bad in ("[1]", "{nope", '{"tags": "a"}', '{"title": 5}'):
        with pytest.raises(Rejection) as info:
            parse_metadata(bad)
        assert info.value.code == "invalid_metadata"


def test_thumbnails_are_recognised_by_their_bytes_not_their_names():
    assert thumbnail_kind(b"\xff\xd8\xff\xe0rest", 100) == ("jpg", "image/jpeg")
    assert thumbnail_kind(b"\x89PNG\r\n\x1a\nrest", 100) == ("png", "image/png")
    assert thumbnail_kind(b"RIFF\0\0\0\0WEBPVP8 ", 100) == ("webp", "image/webp")
    with pytest.raises(Rejection) as info:
        thumbnail_kind(b"GIF89a", 100)
    assert info.value.code == "thumbnail_unsupported"
    with pytest.raises(Rejection) as info:
        thumbnail_kind(b"\xff\xd8\xff" + b"0" * 200, 100)
    assert info.value.status == 413


def test_captions_are_on_by_default_and_take_form_and_json_booleans():
    from services.ingest.validation import CaptionsRequest, parse_captions

    assert parse_captions(None, None) == CaptionsRequest(True, None)
    assert parse_captions("off", "") == CaptionsRequest(False, None)
    assert parse_captions(False, "en-US") == CaptionsRequest(False, "en-US")
    assert parse_captions("1", "zh-Hant").fields() == {"captions": True,
                                                       "captions_language": "zh-Hant"}


@pytest.mark.parametrize(("captions", "language", "code"), [
    ("perhaps", None, "invalid_captions"), (2, None, "invalid_captions"),
    (None, "english please", "invalid_captions_language"), (None, 7, "invalid_captions_language"),
    (None, "e", "invalid_captions_language")])
def test_bad_captions_fields_are_refused_with_a_code(captions, language, code):
    from services.ingest.validation import parse_captions

    with pytest.raises(Rejection) as caught:
        parse_captions(captions, language)
    assert caught.value.code == code
