import json
import re

from services.captions.transcript import (
    NO_SPEECH,
    OK,
    Segment,
    Transcript,
    Word,
    from_record,
    monotonic,
    rendered,
    speech_segments,
    to_json,
    to_srt,
    to_text,
    to_webvtt,
)


def _transcript() -> Transcript:
    return Transcript("en", 0.97, 7.5, (
        Segment(0.0, 2.5, "Hello there.", -0.2, 0.01,
                (Word(0.0, 0.6, "Hello", 0.9), Word(0.7, 1.2, "there.", 0.8))),
        Segment(3661.25, 3662.0, "Second --> line", -0.4, 0.02),
    ))


def test_webvtt_has_the_header_and_millisecond_cue_times():
    text = to_webvtt(_transcript())
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:00.000 --> 00:00:02.500\nHello there.\n" in text
    assert "01:01:01.250 --> 01:01:02.000\nSecond -> line\n" in text


def test_srt_numbers_cues_and_uses_commas():
    text = to_srt(_transcript())
    assert text.startswith("1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n")
    assert re.findall(r"\d\d:\d\d:\d\d,\d{3}", text) == [
        "00:00:00,000", "00:00:02,500", "01:01:01,250", "01:01:02,000"]


def test_text_is_one_line_per_segment():
    assert to_text(_transcript()) == "Hello there.\nSecond -> line\n"


def test_json_round_trips_with_words():
    record = json.loads(to_json(_transcript()))
    assert record["outcome"] == OK and record["language"] == "en"
    assert record["segments"][0]["words"][1] == {"start": 0.7, "end": 1.2, "word": "there.",
                                                 "probability": 0.8}
    assert from_record(record) == _transcript()


def test_no_segments_is_no_speech():
    empty = Transcript(None, None, 3.0)
    assert empty.outcome == NO_SPEECH
    assert to_webvtt(empty) == "WEBVTT\n" and to_text(empty) == ""


def test_speech_segments_drop_flagged_and_empty_ones():
    kept = speech_segments([Segment(0, 1, "music", -1.0, 0.9), Segment(1, 2, " ", -0.1),
                            Segment(2, 3, "words", -0.1, 0.1)], 0.6)
    assert [s.text for s in kept] == ["words"]


def test_monotonic_sorts_and_clips_overlaps():
    cues = monotonic([Segment(5, 6, "c", 0), Segment(0, 2, "a", 0), Segment(1.5, 3, "b", 0),
                      Segment(2.5, 2.9, "inside", 0)])
    assert [(c.start, c.end, c.text) for c in cues] == [(0, 2, "a"), (2, 3, "b"), (5, 6, "c")]


def test_rendered_names_the_seed_files():
    files = rendered(_transcript())
    assert {name for name, _, _ in files.values()} == {
        "transcript.vtt", "transcript.srt", "transcript.txt", "transcript.json"}
    assert files["vtt"][1] == "text/vtt"
