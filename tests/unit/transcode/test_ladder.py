"""The ladder from 240p to 2160p: every rung boundary, per profile, frame rates, levels and
the HDR decision. Expected sizes are written down here, not derived from the profiles."""

from __future__ import annotations

from fractions import Fraction

import pytest

from services.shared.media.probe_parser import parse_probe
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
from services.transcode.profiles import get_profile
from tests.unit.shared.media.probe_samples import probe_json

#: Rung -> 16:9 box, as the issue and Apple's authoring spec name them.
BOXES = {"240p": (426, 240), "360p": (640, 360), "480p": (854, 480), "720p": (1280, 720),
         "1080p": (1920, 1080), "1440p": (2560, 1440), "2160p": (3840, 2160)}
ALL = list(BOXES)
H264 = ALL[:5]


def rungs(width: int, height: int, profile: str = "default", **shape: object) -> list[str]:
    plan = plan_ladder(SourceShape(width, height, **shape), get_profile(profile))  # type: ignore[arg-type]
    return [v.name for v in plan.videos]


@pytest.mark.parametrize("profile", ["hevc", "av1"])
@pytest.mark.parametrize("index", range(len(ALL)))
def test_each_box_boundary_in_the_4k_profiles(profile, index):
    name = ALL[index]
    width, height = BOXES[name]
    # Exactly the box: this rung and every one below, at their own boxes.
    plan = plan_ladder(SourceShape(width, height), get_profile(profile))
    assert [(v.name, v.width, v.height) for v in plan.videos] == \
        [(n, *BOXES[n]) for n in ALL[:index + 1]]
    # One pixel short on both axes: not this rung (never upscaled); below the lowest box,
    # the lowest rung at the source's own (even) size.
    below = plan_ladder(SourceShape(width - 1, height - 1), get_profile(profile)).videos
    if index:
        assert [v.name for v in below] == ALL[:index]
    else:
        assert [(v.name, v.width, v.height) for v in below] == [("240p", 424, 238)]
    # Portrait: the same boundary on the turned box.
    assert rungs(height, width, profile) == ALL[:index + 1]
    assert rungs(height - 1, width - 1, profile) == (ALL[:index] or ["240p"])


@pytest.mark.parametrize("index", range(len(H264)))
def test_each_box_boundary_in_the_h264_profile(index):
    width, height = BOXES[H264[index]]
    assert rungs(width, height) == H264[:index + 1]
    assert rungs(width - 1, height - 1) == (H264[:index] or ["240p"])


def test_h264_stops_at_1080p_and_the_4k_profiles_carry_1440p_and_2160p():
    assert rungs(3840, 2160) == H264
    assert rungs(2560, 1440) == H264
    for profile in ("hevc", "av1"):
        assert rungs(3840, 2160, profile) == ALL
        assert rungs(2560, 1440, profile) == ALL[:6]
        plan = plan_ladder(SourceShape(3840, 2160), get_profile(profile))
        assert (plan.videos[-1].width, plan.videos[-1].height) == (3840, 2160)


def test_a_480p_source_gets_240p_360p_480p_and_nothing_above():
    for profile in ("default", "hevc", "av1"):
        assert rungs(854, 480, profile) == ["240p", "360p", "480p"]
        assert rungs(480, 854, profile) == ["240p", "360p", "480p"]
        assert rungs(640, 480, profile) == ["240p", "360p", "480p"]  # 4:3 DVD-style


def test_one_axis_reaching_the_box_is_enough_and_size_stays_within_it():
    # 2.39:1 scope 4K: the long side reaches 3840, the short side is 1606.
    plan = plan_ladder(SourceShape(3840, 1606), get_profile("hevc"))
    assert [(v.name, v.width, v.height) for v in plan.videos][-2:] == \
        [("1440p", 2560, 1070), ("2160p", 3840, 1606)]
    # 4:3 at 2880x2160 reaches 2160p by its short side.
    assert rungs(2880, 2160, "av1") == ALL


def test_a_caller_can_still_ask_for_a_subset():
    plan = plan_ladder(SourceShape(3840, 2160), get_profile("av1"), ["2160p", "480p", "audio"])
    assert plan.outputs == ["480p", "2160p", "audio", "mp3", "thumbnails"]
    plan = plan_ladder(SourceShape(1920, 1080), get_profile("hevc"), ["2160p", "240p"])
    assert [v.name for v in plan.videos] == ["240p"] and plan.skipped == ("2160p",)


@pytest.mark.parametrize(("source", "expected"), [
    (Fraction(60), Fraction(60)), (Fraction(60000, 1001), Fraction(60000, 1001)),
    (Fraction(50), Fraction(50)), (Fraction(30), Fraction(30)),
    (Fraction(120), Fraction(60)), (Fraction(100), Fraction(50)), (Fraction(72), Fraction(36)),
    (Fraction(240), Fraction(60)), (Fraction(120000, 1001), Fraction(60000, 1001)),
])
def test_frame_rates_up_to_60_are_kept_and_above_60_halved(source, expected):
    plan = plan_ladder(SourceShape(3840, 2160, frame_rate=source), get_profile("hevc"))
    assert plan.frame_rate == expected
    assert plan.gop_frames == round(expected * 2)


def test_levels_follow_the_frame_rate_where_60_fps_needs_more():
    def levels(profile: str, rate: int) -> dict[str, str | None]:
        plan = plan_ladder(SourceShape(3840, 2160, frame_rate=Fraction(rate)),
                           get_profile(profile))
        return {v.name: v.level for v in plan.videos}

    # H.264 (Rec. ITU-T H.264 table A-1): 1080p60 needs 4.2, 1080p30 fits 4.1; 720p60 fits 4.0.
    assert levels("default", 30) == {"240p": "3.0", "360p": "3.1", "480p": "3.1",
                                     "720p": "4.0", "1080p": "4.1"}
    assert levels("default", 60) == {"240p": "3.0", "360p": "3.1", "480p": "3.1",
                                     "720p": "4.0", "1080p": "4.2"}
    # HEVC main tier (table A.8): 2160p30 fits 5, 2160p60 needs 5.1.
    assert levels("hevc", 25)["2160p"] == "5" and levels("hevc", 60)["2160p"] == "5.1"
    assert levels("hevc", 60)["1440p"] == "5" and levels("hevc", 60)["1080p"] == "4.1"
    assert set(levels("av1", 60).values()) == {None}  # SVT-AV1 signals what it meets
    h264 = get_profile("default")
    assert expected_video_codec(h264, h264.rung("1080p"), 60) == "avc1.64002a"
    assert expected_video_codec(h264, h264.rung("1080p"), 30) == "avc1.640029"


def test_hdr_sources_are_tone_mapped_on_purpose_and_sdr_ones_are_not():
    for transfer in ("smpte2084", "arib-std-b67"):
        plan = plan_ladder(SourceShape(3840, 2160, color_transfer=transfer),
                           get_profile("hevc"))
        assert plan.tone_map_from == transfer
    for transfer in ("bt709", None, "bt2020-10", "unknown"):
        assert plan_ladder(SourceShape(1920, 1080, color_transfer=transfer),
                           get_profile()).tone_map_from is None
    audio_only = SourceShape(None, None, frame_rate=None, color_transfer="smpte2084")
    assert plan_ladder(audio_only, get_profile()).tone_map_from is None


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


def test_a_rotated_phone_video_plans_as_portrait():
    probe = parse_probe(probe_json(side_data_list=[{"rotation": -90}]))
    assert probe.video is not None and probe.video.rotation == 90
    assert (probe.display_width, probe.display_height) == (1080, 1920)
    plan = plan_ladder(probe, DEFAULT)
    assert [(v.width, v.height) for v in plan.videos] == [(240, 426), (360, 640), (480, 854),
                                                          (720, 1280), (1080, 1920)]
    assert plan.frame_rate == Fraction(30000, 1001) and plan.gop_frames == 60


def test_anamorphic_source_is_planned_at_its_display_size():
    probe = parse_probe(probe_json(width=720, height=576, sample_aspect_ratio="16:15"))
    assert (probe.display_width, probe.display_height) == (768, 576)
    assert [(v.width, v.height) for v in plan_ladder(probe, DEFAULT).videos] == \
        [(320, 240), (480, 360), (640, 480)]
