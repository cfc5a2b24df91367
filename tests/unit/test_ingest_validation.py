"""Ingest refuses sources by their content, with a code and a sentence saying what was wrong."""

from dataclasses import dataclass

import pytest

from services.ingest.errors import Rejection
from services.ingest.validation import (
    parse_metadata,
    parse_priority,
    source_info,
    thumbnail_kind,
    validate_source,
)


@dataclass(frozen=True)
class Limits:
    """The README's content rules, written down: at least 640x360, 1 s to 24 h."""
    min_width: int = 640
    min_height: int = 360
    min_duration_s: float = 1.0
    max_duration_s: float = 24 * 3600.0


LIMITS = Limits()


@dataclass
class Video:
    width: int
    height: int
    codec: str = "h264"
    fps: float | None = 25.0
    bitrate: int | None = None
    pix_fmt: str | None = "yuv420p"


@dataclass
class Audio:
    codec: str = "aac"
    channels: int | None = 2
    sample_rate: int | None = 48000
    bitrate: int | None = 128000


@dataclass
class Probe:
    duration: float = 10.0
    video: Video | None = None
    audio: Audio | None = None
    container: str = "mov,mp4,m4a,3gp,3g2,mj2"
    bitrate: int | None = None


def refusal(probe: Probe) -> Rejection:
    with pytest.raises(Rejection) as info:
        validate_source(probe, LIMITS)
    return info.value


def test_a_320x240_video_is_refused_as_too_low_with_its_size_in_the_sentence():
    error = refusal(Probe(video=Video(320, 240)))
    assert error.code == "resolution_too_low"
    assert error.detail == "source is 320x240; the minimum is 640x360"


def accepted(probe: Probe) -> bool:
    try:
        validate_source(probe, LIMITS)
    except Rejection:
        return False
    return True


def test_portrait_video_is_judged_by_its_short_side():
    assert accepted(Probe(video=Video(720, 1280)))
    assert accepted(Probe(video=Video(360, 640)))
    assert refusal(Probe(video=Video(359, 640))).code == "resolution_too_low"
    assert refusal(Probe(video=Video(300, 1280))).code == "resolution_too_low"


def test_duration_must_be_between_one_second_and_a_day():
    assert refusal(Probe(duration=0.5, video=Video(1280, 720))).code == "duration_too_short"
    assert refusal(Probe(duration=90000, video=Video(1280, 720))).code == "duration_too_long"


def test_audio_only_sources_are_accepted():
    assert accepted(Probe(audio=Audio()))
    # Still judged by the other rules: validation ran, it did not just skip audio.
    assert refusal(Probe(duration=0.5, audio=Audio())).code == "duration_too_short"


def test_a_container_without_streams_is_refused():
    assert refusal(Probe()).code == "no_streams"


def test_source_info_carries_the_probed_facts():
    info = source_info(Probe(video=Video(1920, 1080), audio=Audio()))
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
    assert (info.value.code, info.value.status) == ("thumbnail_too_large", 413)
