"""ffmpeg runs through one wrapper; a killed service never leaves an orphan encoding on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
