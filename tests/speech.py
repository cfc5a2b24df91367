"""Spoken test clips: espeak-ng says known sentences, FFmpeg puts them under a test picture.

The sentences are the ground truth, so a test can measure the word error rate of what the
captions stage heard (`word_error_rate`, a plain Levenshtein distance over words, written
here so the oracle shares no code with the service).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from services.shared.settings import CommonSettings
from tests.tools import tool

SENTENCES = ("The quick brown fox jumps over the lazy dog.",
             "Seven ships sailed into the harbour at midnight.")


def make_speech_clip(path: Path, sentences: tuple[str, ...] = SENTENCES, *,
                     width: int = 640, height: int = 360, lead_s: float = 0.5) -> Path:
    """An H.264/AAC clip whose audio is `sentences` spoken by espeak-ng (after `lead_s` of
    silence), as long as the speech plus half a second."""
    espeak = tool("espeak-ng", "espeak-ng")
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".wav")
    subprocess.run([espeak, "-s", "150", "-w", str(wav), " ".join(sentences)], check=True,
                   capture_output=True, timeout=60)
    ffmpeg = CommonSettings().ffmpeg_path
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25",
         "-i", str(wav), "-filter_complex",
         f"[1:a]adelay={int(lead_s * 1000)}:all=1,apad=pad_dur=0.5[a]",
         "-map", "0:v", "-map", "[a]", "-shortest",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
         "-g", "50", "-c:a", "aac", "-b:a", "96k", str(path)],
        capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"make_speech_clip failed: {done.stderr.strip()}")
    wav.unlink()
    return path


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; British and American spellings as one."""
    found = re.findall(r"[a-z0-9']+", text.lower())
    return ["harbor" if w == "harbour" else w for w in found]


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))
