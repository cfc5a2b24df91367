"""Speech recognition: faster-whisper (CTranslate2) on CPU, over a decoded audio file.

The model loads once per process. The audio is 16 kHz mono float32 on disk (see
`audio.py`); it is mapped, and read one window at a time, so memory holds one window, never
the whole track. Runs in a worker thread; `stop` is checked between segments so a
cancelled video stops transcribing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.captions.settings import CaptionsSettings
from services.captions.transcript import Segment, Transcript, Word, monotonic, speech_segments

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class Stopped(Exception):
    """The transcription was asked to stop (the video was cancelled, or we shut down)."""


@dataclass(frozen=True)
class Recognized:
    transcript: Transcript
    audio_seconds: float
    processing_seconds: float


def whisper_language(bcp47: str | None) -> str | None:
    """Whisper's language code for a BCP-47 tag (`en-US` -> `en`); None: detect it."""
    if not bcp47:
        return None
    return bcp47.split("-")[0].split("_")[0].lower() or None


class Recognizer:
    def __init__(self, settings: CaptionsSettings) -> None:
        from faster_whisper import WhisperModel  # heavy import: only in the captions process

        self.settings = settings
        started = time.monotonic()
        self.model: Any = WhisperModel(str(settings.model_dir), device="cpu",
                                       compute_type=settings.compute_type,
                                       cpu_threads=settings.threads, local_files_only=True)
        log.info("speech model %s (%s) loaded in %.1f s", settings.model_dir,
                 settings.compute_type, time.monotonic() - started)

    def recognize(self, pcm: Path, language: str | None, stop: threading.Event) -> Recognized:
        started = time.monotonic()
        samples = pcm.stat().st_size // 4
        audio = (np.memmap(pcm, dtype=np.float32, mode="r") if samples
                 else np.zeros(0, dtype=np.float32))
        window = max(1, int(self.settings.window_seconds * SAMPLE_RATE))
        code = whisper_language(language)
        probability: float | None = 1.0 if code else None
        found: list[Segment] = []
        for begin in range(0, samples, window):
            chunk = np.array(audio[begin:begin + window])  # one window in memory
            if chunk.size < SAMPLE_RATE // 10:
                continue
            offset = begin / SAMPLE_RATE
            segments, info = self.model.transcribe(
                chunk, language=code, beam_size=self.settings.beam_size,
                word_timestamps=True, condition_on_previous_text=False)
            window_segments = []
            for s in segments:
                if stop.is_set():
                    raise Stopped()
                window_segments.append(_segment(s, offset))
            speech = speech_segments(window_segments, self.settings.no_speech_threshold)
            if code is None and speech:
                # The first window with speech decides the language of the rest.
                code, probability = info.language, float(info.language_probability)
            found += speech
        duration = samples / SAMPLE_RATE
        transcript = Transcript(language=code if found else None,
                                language_probability=probability if found else None,
                                duration_seconds=duration, segments=monotonic(found))
        return Recognized(transcript, duration, time.monotonic() - started)


def _segment(s: Any, offset: float) -> Segment:
    words = tuple(Word(round(float(w.start) + offset, 3), round(float(w.end) + offset, 3),
                       str(w.word).strip(), round(float(w.probability), 4))
                  for w in (s.words or ()))
    return Segment(round(float(s.start) + offset, 3), round(float(s.end) + offset, 3),
                   str(s.text).strip(), round(float(s.avg_logprob), 4),
                   round(float(s.no_speech_prob), 4), words)
