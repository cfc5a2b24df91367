"""`captions-done` is a rendition-done (v5) of media type CAPTIONS whose id derives from
the upload, and it survives the wire."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from schemas import ALL_TOPICS, CAPTIONS_DONE
from schemas.events import MediaType, VideoUploaded
from services.captions.announce import StoredFile, captions_done, wants_captions
from services.captions.transcript import Segment, Transcript
from services.shared.codec import EventCodec

UPLOAD = VideoUploaded(event_id="00000000-0000-0000-0000-000000000001",
                       video_id="00000000-0000-0000-0000-000000000002",
                       occurred_at=datetime(2026, 12, 1, tzinfo=UTC), source_uri="s3://b/k",
                       attempt=3)
FILES = [StoredFile(n, f"s3://b/{n}", "text/vtt", 10, "ab" * 32)
         for n in ("transcript.vtt", "transcript.srt", "transcript.txt", "transcript.json")]


def test_the_event_names_the_webvtt_file_and_every_output():
    spoken = Transcript("en", 0.9, 4.0, (Segment(0, 1, "hi", -0.1),))
    event = captions_done(UPLOAD, spoken, FILES, 2.0)
    assert event.media_type is MediaType.CAPTIONS and event.rendition == "captions"
    assert event.uri == "s3://b/transcript.vtt" and event.attempt == 3
    assert [a.name for a in event.artifacts] == [f.name for f in FILES]
    assert (event.captions_outcome, event.language, event.language_probability) == (
        "ok", "en", 0.9)
    assert event.expected_renditions == ()
    again = captions_done(UPLOAD, spoken, FILES, 3.0)
    assert again.event_id == event.event_id  # a redone job repeats the same event


def test_no_speech_and_the_wire():
    event = captions_done(UPLOAD, Transcript(None, None, 4.0), FILES, 1.0)
    assert event.captions_outcome == "no_speech" and event.language is None
    codec = EventCodec(ALL_TOPICS)
    decoded = codec.decode(CAPTIONS_DONE, codec.encode(CAPTIONS_DONE, event))
    # millisecond timestamps on the wire
    assert decoded == dataclasses.replace(event, occurred_at=decoded.occurred_at)
    assert abs((decoded.occurred_at - event.occurred_at).total_seconds()) < 0.001


def test_captions_are_on_unless_turned_off():
    assert wants_captions(UPLOAD)
    assert not wants_captions(dataclasses.replace(UPLOAD, captions=False))
    assert wants_captions(dataclasses.replace(UPLOAD, captions=False, captions_only=True))
