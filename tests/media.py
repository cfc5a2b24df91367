"""Test clips made on the spot: FFmpeg's `testsrc2` pattern and a `sine` tone.

Generated, never checked in, so a test states exactly the media it needs. Everything is
deterministic for given arguments, which keeps metric-based assertions stable.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.shared.settings import CommonSettings


def make_clip(path: Path, width: int, height: int, seconds: float, audio: bool = True,
              video: bool = True, fps: float = 25, *, sample_rate: int = 48000,
              rotate: int | None = None) -> Path:
    """Write an H.264/AAC clip (the container follows `path`'s suffix) and return `path`.

    `rotate` stores a display-matrix rotation (e.g. 90, as phones do for portrait video)
    without touching the coded frames, so `width`x`height` is the coded size.
    """
    if not (audio or video):
        raise ValueError("a clip needs audio or video")
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [CommonSettings().ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if video:
        if rotate is not None:
            # Input options: attach a display matrix and keep it as metadata (the CLI would
            # otherwise rotate the pixels), the way phones store portrait video.
            args += ["-noautorotate", "-display_rotation", str(rotate)]
        # testsrc2 rounds its size to even numbers; a scale keeps odd test sizes odd.
        args += ["-f", "lavfi", "-i",
                 f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds},"
                 f"scale={width}:{height}"]
    if audio:
        args += ["-f", "lavfi", "-i",
                 f"sine=frequency=440:sample_rate={sample_rate}:duration={seconds}"]
    if video:
        # yuv420p needs even sizes; odd test sizes fall back to 4:4:4 so they stay odd.
        even = width % 2 == 0 and height % 2 == 0
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18",
                 "-pix_fmt", "yuv420p" if even else "yuv444p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    args += ["-t", str(seconds), str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"make_clip failed ({done.returncode}): {done.stderr.strip()}")
    return path
