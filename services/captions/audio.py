"""The source's first audio track, decoded once to 16 kHz mono float32 samples on disk.

FFmpeg (through the one process runner) writes the raw samples straight to a file, so the
track is streamed from the source to disk and never held whole in memory; the recognizer
maps that file and reads it one window at a time.
"""

from __future__ import annotations

from pathlib import Path

from services.captions.speech import SAMPLE_RATE
from services.shared.media.process import run_ffmpeg
from services.shared.settings import CommonSettings


async def decode_speech_audio(source: Path, target: Path, settings: CommonSettings,
                              duration_s: float | None = None) -> Path:
    await run_ffmpeg(["-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn",
                      "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_f32le",
                      "-f", "f32le", str(target)],
                     settings, name="decode audio", duration_s=duration_s)
    return target
