"""The ladder from 240p to 2160p: every rung boundary, per profile, frame rates, levels and
the HDR decision. Expected sizes are written down here, not derived from the profiles."""

from __future__ import annotations

from fractions import Fraction

import pytest

from services.transcode.ladder import SourceShape, expected_video_codec, plan_ladder
from services.transcode.profiles import get_profile

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
