"""ffmpeg runs through one wrapper; a killed service never leaves an orphan encoding on, and
its failures name no server path."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.shared.media import probing
from services.shared.media.errors import FfmpegError, ProbeError
from services.shared.media.process import run_ffmpeg
from tests.media import make_clip

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """
import asyncio
from services.shared.media.process import FfmpegRun, ffmpeg_argv

async def main():
    run = FfmpegRun(ffmpeg_argv(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                                 "-t", "120", "-f", "null", "-"]), name="long-encode")
    await run.start()
    print(run.pid, flush=True)
    await run.wait()

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_ffmpeg_dies_with_a_sigkilled_service():
    service = subprocess.Popen([sys.executable, "-c", SERVICE], stdout=subprocess.PIPE,
                               text=True, cwd=ROOT)
    ffmpeg_pid = int(service.stdout.readline())  # type: ignore[union-attr]
    try:
        assert alive(ffmpeg_pid)
        os.kill(service.pid, signal.SIGKILL)
        service.wait()
        deadline = time.monotonic() + 5
        while alive(ffmpeg_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(ffmpeg_pid), "ffmpeg outlived the service that started it"
    finally:
        if alive(ffmpeg_pid):
            os.kill(ffmpeg_pid, signal.SIGKILL)


def test_real_failures_name_no_server_path(tmp_path):
    """ffprobe and ffmpeg name the files they were given in their complaints; what reaches
    an error message names the input by its label, and outputs by their file names."""
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video extension\n" * 100)
    clip = make_clip(tmp_path / "whole.mp4", 320, 240, seconds=2, audio=False)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    messages = []
    for path in (text, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(ProbeError) as caught:
            asyncio.run(probing.probe(path))
        messages.append(str(caught.value))
    with pytest.raises(ProbeError) as caught:
        asyncio.run(probing.decode_check(text))
    messages.append(str(caught.value))
    with pytest.raises(FfmpegError) as caught:
        asyncio.run(run_ffmpeg(["-i", str(clip), str(tmp_path / "no-such-dir" / "out.mp4")]))
    messages.append(str(caught.value))
    assert messages[0].startswith("ffprobe cannot read the source: "), messages
    assert messages[2] == "the source does not exist"
    assert "out.mp4" in messages[4], messages
    for message in messages:
        assert str(tmp_path) not in message and "/tmp" not in message, message
