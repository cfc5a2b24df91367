"""Encoding profiles: named, overridable, and the default's rungs as seeded."""

from __future__ import annotations

import pytest

from services.transcode.errors import UnknownProfile
from services.transcode.profiles import PROFILES, get_profile

DEFAULT = get_profile()


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
