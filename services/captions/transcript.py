"""A transcript and the files it is written as: WebVTT, SRT, plain text and JSON. Pure.

Segment times are seconds from the start of the media. The JSON is the full record
(segments with start, end, text and average log-probability, each with its words and
their times; the language and its probability; the outcome), the one the catalog's
transcript API serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

OK = "ok"
NO_SPEECH = "no_speech"


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    language: str | None
    language_probability: float | None
    duration_seconds: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> str:
        return OK if self.segments else NO_SPEECH

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


def speech_segments(segments: Iterable[Segment], no_speech_threshold: float) -> list[Segment]:
    """The segments that are speech: with text, and a no-speech probability under the
    threshold (Whisper hallucinates words into music and tone; those come flagged)."""
    return [s for s in segments
            if s.text.strip() and s.no_speech_prob < no_speech_threshold and s.end > s.start]


def monotonic(segments: Iterable[Segment]) -> tuple[Segment, ...]:
    """Cues in time order that never overlap: a segment starting before the previous one
    ended starts where it ended (window joins can overlap by a few milliseconds)."""
    kept: list[Segment] = []
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        start = max(segment.start, kept[-1].end if kept else 0.0)
        if segment.end <= start:
            continue
        kept.append(Segment(start, segment.end, segment.text.strip(), segment.avg_logprob,
                            segment.no_speech_prob, segment.words))
    return tuple(kept)


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts a timing line: neither may be in the text.
    return " ".join(text.replace("-->", "->").split())


def to_webvtt(transcript: Transcript) -> str:
    lines = ["WEBVTT", ""]
    for index, s in enumerate(transcript.segments, 1):
        lines += [str(index), f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}",
                  _cue_text(s.text), ""]
    return "\n".join(lines)


def to_srt(transcript: Transcript) -> str:
    lines: list[str] = []
    for index, s in enumerate(transcript.segments, 1):
        lines += [str(index), f"{_clock(s.start, ',')} --> {_clock(s.end, ',')}",
                  _cue_text(s.text), ""]
    return "\n".join(lines)


def to_text(transcript: Transcript) -> str:
    return "\n".join(_cue_text(s.text) for s in transcript.segments) + (
        "\n" if transcript.segments else "")


def to_record(transcript: Transcript) -> dict[str, Any]:
    return {
        "outcome": transcript.outcome,
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "duration_seconds": transcript.duration_seconds,
        "segments": [{**asdict(s), "words": [asdict(w) for w in s.words]}
                     for s in transcript.segments],
    }


def to_json(transcript: Transcript) -> str:
    return json.dumps(to_record(transcript), ensure_ascii=False, separators=(",", ":"))


def from_record(record: dict[str, Any]) -> Transcript:
    return Transcript(
        language=record.get("language"),
        language_probability=record.get("language_probability"),
        duration_seconds=float(record.get("duration_seconds") or 0.0),
        segments=tuple(
            Segment(float(s["start"]), float(s["end"]), str(s["text"]),
                    float(s["avg_logprob"]), float(s.get("no_speech_prob", 0.0)),
                    tuple(Word(float(w["start"]), float(w["end"]), str(w["word"]),
                               float(w.get("probability", 0.0)))
                          for w in s.get("words", ())))
            for s in record.get("segments", ())),
    )


#: name -> (file name, content type, renderer); the WebVTT file is the rendition's main uri.
OUTPUTS = {
    "vtt": ("transcript.vtt", "text/vtt", to_webvtt),
    "srt": ("transcript.srt", "application/x-subrip", to_srt),
    "txt": ("transcript.txt", "text/plain; charset=utf-8", to_text),
    "json": ("transcript.json", "application/json", to_json),
}


def rendered(transcript: Transcript) -> dict[str, tuple[str, str, bytes]]:
    """Each output as (file name, content type, bytes)."""
    return {kind: (name, content_type, render(transcript).encode())
            for kind, (name, content_type, render) in OUTPUTS.items()}
