"""Ladder planning, profiles and codec strings: pure rules, no ffmpeg."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import parse_probe
from services.shared.media.toolcheck import parse_version
from services.transcode.errors import UnknownProfile
from services.transcode.ladder import (
    SourceShape,
    UnknownRendition,
    av01_from_config,
    avc1_from_config,
    codecs_from_names,
    expected_video_codec,
    fit,
    gop_frames,
    hvc1_from_config,
    mp4a,
    output_frame_rate,
    plan_ladder,
)
from services.transcode.profiles import PROFILES, get_profile
from services.transcode.thumbnails import plan_thumbnails, sprite_grid, storyboard_vtt

DEFAULT = get_profile()


def sizes(width: int, height: int, **kwargs: object) -> list[tuple[str, int, int]]:
    plan = plan_ladder(SourceShape(width, height, **kwargs), DEFAULT)  # type: ignore[arg-type]
    return [(v.name, v.width, v.height) for v in plan.videos]


@pytest.mark.parametrize(("width", "height", "expected"), [
    (640, 360, [("240p", 426, 240), ("360p", 640, 360)]),
    (1280, 720, [("240p", 426, 240), ("360p", 640, 360), ("480p", 854, 480),
                 ("720p", 1280, 720)]),
    (1920, 1080, [("240p", 426, 240), ("360p", 640, 360), ("480p", 854, 480),
                  ("720p", 1280, 720), ("1080p", 1920, 1080)]),
    # H.264 stops at 1080p (the hevc and av1 profiles go on to 2160p).
    (3840, 2160, [("240p", 426, 240), ("360p", 640, 360), ("480p", 854, 480),
                  ("720p", 1280, 720), ("1080p", 1920, 1080)]),
    (1000, 600, [("240p", 400, 240), ("360p", 600, 360), ("480p", 800, 480)]),
])
def test_each_size_class_gets_its_rungs(width, height, expected):
    assert sizes(width, height) == expected


def test_portrait_is_judged_by_short_and_long_side():
    assert sizes(720, 1280) == [("240p", 240, 426), ("360p", 360, 640), ("480p", 480, 854),
                                ("720p", 720, 1280)]
    assert sizes(1080, 1920) == [("240p", 240, 426), ("360p", 360, 640), ("480p", 480, 854),
                                 ("720p", 720, 1280), ("1080p", 1080, 1920)]


def test_non_16_9_sources_keep_their_aspect():
    # 4:3 scales by the short side; scope is bounded by the long side (level-safe).
    assert sizes(960, 720) == [("240p", 320, 240), ("360p", 480, 360), ("480p", 640, 480),
                               ("720p", 960, 720)]
    assert sizes(1920, 800) == [("240p", 426, 178), ("360p", 640, 266), ("480p", 854, 356),
                                ("720p", 1280, 534), ("1080p", 1920, 800)]
    assert sizes(720, 720) == [("240p", 240, 240), ("360p", 360, 360), ("480p", 480, 480),
                               ("720p", 720, 720)]


@pytest.mark.parametrize(("width", "height"), [(1281, 721), (641, 361), (1921, 1081),
                                               (853, 480), (639, 359), (321, 241)])
def test_odd_sizes_give_even_dimensions_never_above_the_source(width, height):
    for _, w, h in sizes(width, height):
        assert w % 2 == 0 and h % 2 == 0
        assert w <= width and h <= height


def test_never_upscales_and_tiny_sources_get_one_rung_at_their_own_size():
    assert fit(639, 359, DEFAULT.rung("360p")) is None
    assert fit(640, 200, DEFAULT.rung("360p")) == (640, 200)
    assert sizes(639, 359) == [("240p", 426, 240)]
    assert sizes(320, 240) == [("240p", 320, 240)]
    assert sizes(425, 239) == [("240p", 424, 238)]
    for width, height in [(1279, 719), (1919, 1079), (500, 2000), (4000, 300)]:
        for _, w, h in sizes(width, height):
            assert w <= width and h <= height
    assert [n for n, _, _ in sizes(1279, 719)] == ["240p", "360p", "480p"]


def test_outputs_list_every_rendition_for_a_video_with_audio():
    plan = plan_ladder(SourceShape(1920, 1080), DEFAULT)
    assert plan.outputs == ["240p", "360p", "480p", "720p", "1080p", "audio", "mp3",
                            "thumbnails"]
    assert plan.keyframe_interval_s == 2.0
    assert plan.frame_rate == 25 and plan.gop_frames == 50


def test_audio_only_source_gets_audio_outputs_only():
    plan = plan_ladder(SourceShape(None, None, has_audio=True, frame_rate=None), DEFAULT)
    assert plan.outputs == ["audio", "mp3"]
    assert plan.videos == () and not plan.thumbnails and plan.frame_rate is None
    assert plan.keyframe_interval_s is None
    assert plan.audio is not None and (plan.audio.kbps, plan.audio.rate) == (128, 48000)
    assert plan.mp3 is not None and (plan.mp3.kbps, plan.mp3.rate) == (192, 48000)


def test_source_without_audio_gets_no_mp3_and_no_audio_rendition():
    plan = plan_ladder(SourceShape(1280, 720, has_audio=False), DEFAULT)
    assert plan.outputs == ["240p", "360p", "480p", "720p", "thumbnails"]
    assert plan.audio is None and plan.mp3 is None


def test_requested_subset_limits_the_rungs():
    plan = plan_ladder(SourceShape(1920, 1080), DEFAULT, ["720p", "mp3"])
    assert plan.outputs == ["720p", "audio", "mp3", "thumbnails"]
    plan = plan_ladder(SourceShape(1920, 1080), DEFAULT, ["1080p", "360p"])
    assert [v.name for v in plan.videos] == ["360p", "1080p"]


def test_a_requested_rung_too_big_for_the_source_falls_back_without_upscaling():
    plan = plan_ladder(SourceShape(1280, 720), DEFAULT, ["1080p"])
    assert [(v.name, v.width, v.height) for v in plan.videos] == [("720p", 1280, 720)]
    assert plan.skipped == ("1080p",)
    plan = plan_ladder(SourceShape(1280, 720), DEFAULT, ["360p", "1080p"])
    assert [v.name for v in plan.videos] == ["360p"] and plan.skipped == ("1080p",)


def test_unknown_requested_rendition_is_a_permanent_error():
    with pytest.raises(UnknownRendition) as caught:
        plan_ladder(SourceShape(1920, 1080), DEFAULT, ["4k"])
    assert caught.value.code == "unknown_rendition" and "4k" in caught.value.message


def test_profiles_are_named_and_overridable():
    assert set(PROFILES) == {"default", "hevc", "av1"}
    assert get_profile(None) is DEFAULT
    fast = get_profile("default", preset="veryfast")
    assert fast.preset == "veryfast" and fast.rungs == DEFAULT.rungs
    for profile in PROFILES.values():
        assert profile.keyframe_interval_s == 2.0 and profile.vmaf_floor == 90.0
        assert (profile.mp3.kbps, profile.mp3.rate) == (192, 48000)
        assert [r.name for r in profile.rungs][:5] == ["240p", "360p", "480p", "720p", "1080p"]
    assert [r.name for r in DEFAULT.rungs] == ["240p", "360p", "480p", "720p", "1080p"]
    for name in ("hevc", "av1"):
        assert [r.name for r in get_profile(name).rungs][5:] == ["1440p", "2160p"]
    assert get_profile("hevc").tag == "hvc1" and get_profile("hevc").encoder == "libx265"
    assert get_profile("av1").encoder == "libsvtav1"


def test_default_profile_rungs_match_the_seed():
    r360, r720, r1080 = (DEFAULT.rung(n) for n in ("360p", "720p", "1080p"))
    assert (r360.crf, r360.profile, r360.level, r360.audio_kbps, r360.audio_rate) == \
        (23, "main", "3.1", 96, 44100)
    assert (r720.crf, r720.profile, r720.level, r720.audio_kbps, r720.audio_rate) == \
        (22, "high", "4.0", 128, 48000)
    assert (r1080.crf, r1080.profile, r1080.level) == (21, "high", "4.1")


def test_unknown_profile_error():
    with pytest.raises(UnknownProfile) as caught:
        get_profile("vp9")
    assert caught.value.code == "unknown_profile"


def test_codec_strings():
    assert [expected_video_codec(DEFAULT, r) for r in DEFAULT.rungs] == \
        ["avc1.4d401e", "avc1.4d401f", "avc1.4d401f", "avc1.640028", "avc1.640029"]
    assert expected_video_codec(get_profile("hevc"), get_profile("hevc").rungs[0]) is None
    assert avc1_from_config(bytes.fromhex("0164001effe1001a")) == "avc1.64001e"
    assert avc1_from_config(bytes.fromhex("014d401f")) == "avc1.4d401f"
    main = bytes([1, 0x01]) + bytes.fromhex("60000000") + bytes.fromhex("900000000000") + \
        bytes([93])
    assert hvc1_from_config(main) == "hvc1.1.6.L93.90"
    main10_high = bytes([1, 0x22]) + bytes.fromhex("20000000") + bytes.fromhex("b00000000000") \
        + bytes([120])
    assert hvc1_from_config(main10_high) == "hvc1.2.4.H120.B0"
    assert av01_from_config(bytes([0x81, 0x08, 0x0C, 0x00])) == "av01.0.08M.08"
    assert av01_from_config(bytes([0x81, 0x0D, 0xCC, 0x00])) == "av01.0.13H.10"
    assert mp4a("LC") == "mp4a.40.2" and mp4a("HE-AAC") == "mp4a.40.5" and mp4a(None) == \
        "mp4a.40.2"
    assert codecs_from_names("h264", "Main", 31) == "avc1.4d401f"
    assert codecs_from_names("h264", "Constrained Baseline", 30) == "avc1.42c01e"
    with pytest.raises(ValueError):
        avc1_from_config(b"\x00\x01")


def test_frame_rates_are_constant_snapped_and_capped():
    assert output_frame_rate(Fraction(2997, 100), 60) == Fraction(30000, 1001)
    assert output_frame_rate(Fraction(30), 60) == 30
    assert output_frame_rate(Fraction(120), 60) == 60
    assert output_frame_rate(Fraction(119880, 1000), 60) == Fraction(60000, 1001)
    assert output_frame_rate(Fraction(15), 60) == 15
    assert output_frame_rate(None, 60) == 25
    assert gop_frames(Fraction(30000, 1001), 2.0) == 60
    assert gop_frames(Fraction(24000, 1001), 2.0) == 48
    assert gop_frames(Fraction(25), 2.0) == 50


def _probe_json(**video: object) -> dict:
    stream = {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 1920,
              "height": 1080, "avg_frame_rate": "30000/1001", "r_frame_rate": "30000/1001",
              "pix_fmt": "yuv420p", "duration": "10.0", **video}
    audio = {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2,
             "sample_rate": "48000", "profile": "LC"}
    return {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "10.01",
                       "bit_rate": "5000000", "size": "6256250"},
            "streams": [stream, audio]}


def test_a_rotated_phone_video_plans_as_portrait():
    probe = parse_probe(_probe_json(side_data_list=[{"rotation": -90}]))
    assert probe.video is not None and probe.video.rotation == 90
    assert (probe.display_width, probe.display_height) == (1080, 1920)
    plan = plan_ladder(probe, DEFAULT)
    assert [(v.width, v.height) for v in plan.videos] == [(240, 426), (360, 640), (480, 854),
                                                          (720, 1280), (1080, 1920)]
    assert plan.frame_rate == Fraction(30000, 1001) and plan.gop_frames == 60


def test_anamorphic_source_is_planned_at_its_display_size():
    probe = parse_probe(_probe_json(width=720, height=576, sample_aspect_ratio="16:15"))
    assert (probe.display_width, probe.display_height) == (768, 576)
    assert [(v.width, v.height) for v in plan_ladder(probe, DEFAULT).videos] == \
        [(320, 240), (480, 360), (640, 480)]


def test_probe_parsing_picks_real_streams_and_codes_failures():
    data = _probe_json()
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


def test_ffmpeg_version_parsing():
    assert parse_version("ffmpeg version n9.0.2-17-g2a571b6 Copyright")[1] == 9
    assert parse_version("ffmpeg version 5.1.9-0+deb12u1 Copyright")[1] == 5
    git = "ffmpeg version N-118000-gabc Copyright\nlibavcodec     61. 19.100 / 61. 19.100\n"
    assert parse_version(git)[1] == 7
    assert parse_version("nonsense")[1] is None


def test_thumbnail_positions_sprite_and_storyboard():
    pictures = DEFAULT.pictures
    plan = plan_thumbnails(pictures, Fraction(25), 20.0, (1280, 720))
    assert plan.frames == {0.0: 0, 0.25: 125, 0.5: 250, 0.75: 375}
    assert plan.tile_size == (160, 90) and plan.tile_every == 50 and plan.last_from_s == 17.0
    assert sprite_grid(10, 10) == (10, 1) and sprite_grid(23, 10) == (10, 3)
    assert sprite_grid(4, 10) == (4, 1)
    vtt = storyboard_vtt(plan, 10, 20.0)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90")
    assert "00:00:18.000 --> 00:00:20.000\nsprite.jpg#xywh=1440,0,160,90" in vtt
    portrait = plan_thumbnails(pictures, Fraction(30), 600.0, (720, 1280))
    assert portrait.tile_size == (160, 284)
    assert portrait.tile_every == 180  # 600 s / 100 tiles = one every 6 s
    long = storyboard_vtt(portrait, 100, 600.0)
    assert long.count("-->") == 100 and "sprite.jpg#xywh=1440,2556,160,284" in long


def test_quality_record_matches_the_rendition_done_schema():
    from services.transcode.quality import QualityScore

    root = Path(__file__).resolve().parents[2]
    schema = json.loads((root / "schemas/rendition-done/v1.avsc").read_text())
    quality = next(f for f in schema["fields"] if f["name"] == "quality")
    fields = {f["name"] for f in quality["type"][1]["fields"]}
    score = QualityScore("720p", vmaf=89.5, psnr=40.0, ssim=0.98, frames_scored=20,
                         vmaf_floor=90.0)
    record = score.as_event().to_record()
    assert set(record) == fields and record["below_floor"] is True
