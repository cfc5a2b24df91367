"""The content rules every source must pass (ingest refuses with them, transcode fails the
video with them), at each boundary, with the default limits the README states: 640x360,
1 s to 24 h."""

from __future__ import annotations

import pytest

from services.shared.media.probe_parser import AudioStream, SourceProbe, VideoStream
from services.shared.media.rules import RULE_CODES, RULES, Violation, first_violation
from services.shared.settings import SourceLimits

#: The defaults, not the environment's: built without reading settings (nothing reads them
#: when a module is imported, see tests/unit/test_slot.py).
LIMITS = SourceLimits.model_construct()


def video(width: int, height: int) -> VideoStream:
    return VideoStream(index=0, codec="h264", width=width, height=height, fps=25.0,
                       bitrate=None, pix_fmt="yuv420p")


def audio() -> AudioStream:
    return AudioStream(index=1, codec="aac", channels=2, sample_rate=48000, bitrate=128000)


def probe(duration: float = 10.0, video: VideoStream | None = None,
          audio: AudioStream | None = None) -> SourceProbe:
    return SourceProbe(container="mov,mp4,m4a,3gp,3g2,mj2", duration=duration, bitrate=None,
                       video=video, audio=audio)


def refusal(source: SourceProbe) -> Violation:
    violation = first_violation(source, LIMITS)
    assert violation is not None, "expected a broken rule"
    return violation


def test_the_defaults_are_the_documented_limits():
    assert (LIMITS.min_width, LIMITS.min_height) == (640, 360)
    assert (LIMITS.min_duration_s, LIMITS.max_duration_s) == (1.0, 86400.0)


def test_the_limits_come_from_the_environment_both_services_read(monkeypatch):
    monkeypatch.setenv("REELFLOW_SOURCE_MIN_WIDTH", "320")
    monkeypatch.setenv("REELFLOW_SOURCE_MIN_HEIGHT", "240")
    from services.ingest.settings import IngestSettings
    from services.transcode.settings import TranscodeSettings
    for limits in (IngestSettings().source_limits, TranscodeSettings().source_limits):
        assert first_violation(probe(video=video(320, 240)), limits) is None


def test_a_320x240_video_is_refused_as_too_low_with_its_size_in_the_sentence():
    error = refusal(probe(video=video(320, 240)))
    assert error.code == "resolution_too_low"
    assert error.message == "source is 320x240; the minimum is 640x360"


@pytest.mark.parametrize(("width", "height", "allowed"), [
    (640, 360, True), (639, 360, False), (640, 359, False),
    (360, 640, True), (359, 640, False), (360, 639, False),  # portrait
    (3840, 2160, True),
])
def test_resolution_boundary(width, height, allowed):
    violation = first_violation(probe(video=video(width, height)), LIMITS)
    assert (violation is None) == allowed, violation
    if not allowed:
        assert violation is not None and violation.code == "resolution_too_low"


def test_portrait_video_is_judged_by_its_short_side():
    assert first_violation(probe(video=video(720, 1280)), LIMITS) is None
    assert first_violation(probe(video=video(360, 640)), LIMITS) is None
    assert refusal(probe(video=video(359, 640))).code == "resolution_too_low"
    assert refusal(probe(video=video(300, 1280))).code == "resolution_too_low"


@pytest.mark.parametrize(("duration", "code"), [
    (0.99, "duration_too_short"), (1.0, None), (86400.0, None), (86400.5, "duration_too_long"),
])
def test_duration_boundary(duration, code):
    violation = first_violation(probe(duration, video=video(1280, 720)), LIMITS)
    assert (violation.code if violation else None) == code


def test_duration_must_be_between_one_second_and_a_day():
    assert refusal(probe(duration=0.5, video=video(1280, 720))).code == "duration_too_short"
    assert refusal(probe(duration=0.5, video=video(1280, 720))).message == \
        "source lasts 0.50 s; the minimum is 1 s"
    assert refusal(probe(duration=90000, video=video(1280, 720))).code == "duration_too_long"
    assert refusal(probe(duration=90000, video=video(1280, 720))).message == \
        "source lasts 90000 s; the maximum is 86400 s"


def test_audio_only_sources_are_accepted():
    assert first_violation(probe(audio=audio()), LIMITS) is None
    # Still judged by the other rules: validation ran, it did not just skip audio.
    assert refusal(probe(duration=0.5, audio=audio())).code == "duration_too_short"


def test_a_container_without_streams_is_refused():
    assert refusal(probe()).code == "no_streams"


def test_the_first_broken_rule_is_the_one_reported():
    # too short AND too small: duration is judged before resolution
    assert refusal(probe(duration=0.5, video=video(320, 240))).code == "duration_too_short"
    # no streams at all: nothing else is judged
    assert refusal(probe(duration=0.5)).code == "no_streams"


def test_every_rule_reports_a_declared_code():
    bad = [probe(), probe(0.5, audio=audio()), probe(90000, audio=audio()),
           probe(video=video(2, 2))]
    codes = {rule(p, LIMITS).code for rule, p in zip(RULES, bad, strict=True)}  # type: ignore[union-attr]
    assert codes == RULE_CODES
