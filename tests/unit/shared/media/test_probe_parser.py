"""The probe parser on ffprobe JSON recorded from real files (`recorded/`, made with the
static FFmpeg and probed with Debian's ffprobe 5.1 exactly as `probing.probe` asks), plus
hand-made edge cases. The expected values are what the files were made with."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import (
    extradata_bytes,
    frame_rate,
    overall_duration,
    parse_probe,
    pick_audio,
    pick_video,
    rotation,
)
from tests.unit.shared.media.probe_samples import probe_json

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_an_h264_aac_mp4_is_read_as_made():
    # made: testsrc2 640x360 at 25 fps, 2 s, libx264 + a mono 44.1 kHz sine in AAC
    probe = parse_probe(recorded("h264_aac_640x360"))
    assert probe.container.startswith("mov,mp4") and probe.duration == 2.0
    assert probe.video is not None and probe.audio is not None
    assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 640, 360)
    assert probe.video.frame_rate == Fraction(25) and probe.video.fps == 25.0
    assert probe.video.pix_fmt == "yuv420p" and not probe.video.interlaced
    assert probe.video.rotation == 0 and probe.display_width == 640
    assert (probe.audio.codec, probe.audio.channels, probe.audio.sample_rate) == ("aac", 1, 44100)
    assert probe.size_bytes == 455283 and probe.bitrate == 1821132


def test_a_display_matrix_rotation_turns_the_display_size():
    # made: 1280x720 with `-display_rotation 90` (counter-clockwise), as phones store portrait
    probe = parse_probe(recorded("rotated_portrait"))
    assert probe.video is not None and probe.video.rotation == 270
    assert (probe.display_width, probe.display_height) == (720, 1280)
    assert probe.frame_rate == Fraction(30000, 1001)


def test_interlaced_anamorphic_pal_is_flagged_and_widened():
    # made: 720x576 mpeg2 with SAR 16:15, top field first, in MPEG-TS
    probe = parse_probe(recorded("interlaced_anamorphic"))
    assert probe.video is not None and probe.video.interlaced
    assert probe.video.sample_aspect_ratio == Fraction(16, 15)
    assert (probe.display_width, probe.display_height) == (768, 576)
    assert probe.audio is None and probe.container == "mpegts"


def test_cover_art_is_not_a_video_stream():
    # made: 3 s of MP3 with a 600x600 PNG attached as `attached_pic`
    probe = parse_probe(recorded("music_with_cover"))
    assert probe.video is None and probe.audio is not None and probe.audio.codec == "mp3"


def test_a_still_image_is_not_media():
    with pytest.raises(ProbeError) as caught:
        parse_probe(recorded("still"), "the source")
    assert caught.value.code == "not_media"
    assert str(caught.value) == "the source is a still image (image2), not a video"


def test_a_stream_without_its_own_duration_takes_the_containers():
    # made: 320x240, 1 s, no audio, in Matroska (which keeps no per-stream duration)
    probe = parse_probe(recorded("small_silent"))
    assert probe.video is not None and probe.video.duration is None
    assert probe.duration == 1.0 and probe.video_duration == 1.0


def test_nothing_at_all_is_not_media_and_no_streams_is_its_own_code():
    with pytest.raises(ProbeError) as caught:
        parse_probe({})
    assert caught.value.code == "not_media"
    with pytest.raises(ProbeError) as caught:
        parse_probe({"format": {"format_name": "mov", "duration": "1"}, "streams": []},
                    "the source")
    assert caught.value.code == "no_streams"
    assert str(caught.value) == "the mov file the source has no audio or video stream"


def test_no_duration_anywhere_is_refused():
    data = recorded("small_silent")
    del data["format"]["duration"]
    with pytest.raises(ProbeError) as caught:
        parse_probe(data)
    assert caught.value.code == "no_duration"


def test_pick_video_skips_sizeless_and_attached_streams():
    cover = {"codec_type": "video", "width": 600, "height": 600,
             "disposition": {"attached_pic": 1}}
    sizeless = {"codec_type": "video", "width": 0, "height": 0}
    real = {"codec_type": "video", "width": 2, "height": 2}
    assert pick_video([cover, sizeless, real]) is real
    assert pick_video([cover, sizeless]) is None


def test_pick_audio_skips_a_zero_channel_placeholder():
    empty = {"codec_type": "audio", "channels": 0}
    real = {"codec_type": "audio", "channels": 2}
    assert pick_audio([empty, real]) is real
    assert pick_audio([empty]) is None


@pytest.mark.parametrize(("stream", "expected"), [
    ({}, 0),
    ({"side_data_list": [{"rotation": -90}]}, 90),
    ({"side_data_list": [{"rotation": 90}]}, 270),
    ({"side_data_list": [{"rotation": 180}]}, 180),
    ({"tags": {"rotate": "90"}}, 90),  # the legacy tag is already clockwise
    ({"side_data_list": [{"side_data_type": "CPB properties"}]}, 0),
])
def test_rotation_is_reported_clockwise(stream, expected):
    assert rotation(stream) == expected


@pytest.mark.parametrize(("stream", "expected"), [
    ({"avg_frame_rate": "30000/1001", "r_frame_rate": "30/1"}, Fraction(30000, 1001)),
    ({"avg_frame_rate": "0/0", "r_frame_rate": "25/1"}, Fraction(25)),
    ({"avg_frame_rate": "0/0", "r_frame_rate": "90000/1"}, None),  # a time base, not a rate
    ({}, None),
])
def test_frame_rate_prefers_the_average_and_ignores_time_bases(stream, expected):
    assert frame_rate(stream) == expected


def test_overall_duration_falls_back_to_the_longest_stream():
    video = parse_probe(recorded("h264_aac_640x360")).video
    audio = parse_probe(recorded("music_with_cover")).audio
    assert overall_duration({"duration": "N/A"}, video, audio) == pytest.approx(3.030204)
    assert overall_duration({}, None, None) == 0.0


def test_extradata_hexdump_is_decoded_to_bytes():
    stream = {"extradata": "\n00000000: 0164 001e ffe1 0019  .d......\n"
                           "00000008: 6764                 gd\n"}
    assert extradata_bytes(stream) == bytes.fromhex("0164001effe100196764")


def test_probe_parsing_picks_real_streams_and_codes_failures():
    data = probe_json()
    cover = {"index": 2, "codec_type": "video", "codec_name": "mjpeg", "width": 600,
             "height": 600, "disposition": {"attached_pic": 1}}
    music = {"format": {"format_name": "mp3", "duration": "3.0"},
             "streams": [cover, data["streams"][1]]}
    assert parse_probe(music).video is None and parse_probe(music).has_audio
    with pytest.raises(ProbeError) as caught:
        parse_probe({"format": {"format_name": "mov", "duration": "1"}, "streams": []})
    assert caught.value.code == "no_streams"
    still = {"format": {"format_name": "image2", "duration": "0.04"},
             "streams": [{**data["streams"][0], "codec_name": "mjpeg"}]}
    with pytest.raises(ProbeError) as caught:
        parse_probe(still)
    assert caught.value.code == "not_media"
    probe = parse_probe(data)
    assert probe.container.startswith("mov") and probe.duration == 10.01
    assert probe.audio is not None and probe.audio.channels == 2
    assert probe.video is not None and probe.video.fps == pytest.approx(29.97, abs=0.01)
