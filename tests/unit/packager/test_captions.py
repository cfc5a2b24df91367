from datetime import UTC, datetime

from schemas.events import MediaType, RenditionDone
from services.packager.captions import HeldCaptions, has_track, vtt_words


def _captions(attempt: int = 1, outcome: str = "ok", video: str = "v") -> RenditionDone:
    return RenditionDone(event_id=f"e{attempt}", video_id=video, attempt=attempt,
                         occurred_at=datetime(2026, 12, 1, tzinfo=UTC), rendition="captions",
                         media_type=MediaType.CAPTIONS, expected_renditions=(),
                         uri="s3://b/t.vtt", captions_outcome=outcome,
                         language="en" if outcome == "ok" else None)


def test_only_spoken_captions_make_a_track():
    assert has_track(_captions())
    assert not has_track(_captions(outcome="no_speech"))


def test_held_captions_hold_the_floor_until_taken():
    held = HeldCaptions()
    held.hold(_captions(), ("captions-done", 2), 40)
    assert held.commit_floor(("captions-done", 2), 99) == 40
    assert held.commit_floor(("captions-done", 1), 99) == 99
    assert held.take("v", 1) is not None
    assert held.commit_floor(("captions-done", 2), 99) == 99
    assert held.take("v", 1) is None


def test_a_newer_attempt_drops_the_older_held_captions():
    held = HeldCaptions()
    held.hold(_captions(1), ("captions-done", 0), 5)
    held.hold(_captions(2), ("captions-done", 0), 9)
    assert held.peek("v", 1) is None and held.peek("v", 2) is not None
    assert held.commit_floor(("captions-done", 0), 20) == 9


def test_forgetting_a_partition_drops_its_captions():
    held = HeldCaptions()
    held.hold(_captions(), ("captions-done", 3), 1)
    held.forget_partition(("captions-done", 3))
    assert held.peek("v", 1) is None


def test_words_are_counted_in_cue_text_only():
    vtt = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nHello there friend\n\n" \
          "2\n00:00:01.000 --> 00:00:02.000\nBye.\n"
    assert vtt_words(vtt) == 4
