"""Scenario 1, load with crashes: clips submitted over HTTP to a pipeline with two transcode
worker processes, one of which is SIGKILLed (with its ffmpeg) twice while it encodes.
Every clip ends `ready` with exactly one current package and one rendition set, and every
object its events name is whole, with the SHA-256 the event carries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.shared.settings import CommonSettings
from tests.integration.test_stack import process_tree
from tests.polling import wait_until
from tests.reliability.harness import audit, clips, submit_all, wait_terminal
from tests.reliability.summary import Row, record

pytestmark = pytest.mark.integration

VICTIM = "transcode-2"


def running_ffmpeg(pid: int | None) -> bool:
    """Whether an ffmpeg runs under this process (a job is mid-encode)."""
    if pid is None:
        return False
    for child in process_tree(pid) - {pid}:
        try:
            argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
        except FileNotFoundError:
            continue
        if b"ffmpeg" in Path(argv0.decode(errors="replace")).name.encode():
            return True
    return False


class Load:
    """Submits clips one after another while watching the victim: each time it runs ffmpeg
    (and until it was killed twice) it is SIGKILLed with its process group and started
    again. Should the clips run out first, further ones are made, so both kills surely land
    mid-encode."""

    def __init__(self, stack: Any, folder: Path, count: int) -> None:
        self.stack, self.folder = stack, folder
        self.queue = clips(folder, count, fps=25)
        self.made = count
        self.ids: list[str] = []
        self.killed: list[int] = []

    def run(self, timeout: float) -> None:
        victim = self.stack.component(VICTIM)
        deadline = time.monotonic() + timeout
        last_submit = 0.0
        while self.queue or len(self.killed) < 2:
            assert time.monotonic() < deadline, f"killed {self.killed} of 2 in time"
            pid = victim.process.pid
            if len(self.killed) < 2 and pid is not None and running_ffmpeg(pid):
                self.stack.kill(VICTIM)
                wait_until(lambda: victim.process.pid is None, f"{VICTIM} gone", 30)
                self.killed.append(pid)
                victim.start()
            elif self.queue:
                self.ids += submit_all([self.queue.pop(0)], "load with crashes")
                last_submit = time.monotonic()
            elif time.monotonic() - last_submit > 20:
                self.queue += clips(self.folder, 1, fps=25, first=self.made)
                self.made += 1
            time.sleep(0.2)


def test_every_clip_ends_ready_and_whole_when_a_worker_is_killed_twice_mid_encode(
        two_workers: Any, common_settings: CommonSettings, clip_count: int,
        tmp_path: Path) -> None:
    load = Load(two_workers, tmp_path, clip_count)
    started = time.monotonic()
    # Generous functional bounds on a loaded 2-core machine; nothing is timed for speed.
    load.run(600 + 30 * clip_count)
    ids = load.ids
    final = wait_terminal(common_settings, ids, 300 + 60 * len(ids))
    seconds = time.monotonic() - started
    found = audit(common_settings, ids)
    ready = [v for v, s in final.items() if s == "ready"]
    row = record(Row("load with crashes", len(ids), len(ready),
                     sum(s not in ("ready", "failed", "cancelled") for s in final.values()),
                     len(found.duplicated), seconds,
                     f"2 workers, {VICTIM} SIGKILLed mid-encode twice;"
                     f" {found.objects_checked} objects verified"))

    assert len(set(load.killed)) == 2, load.killed
    assert row.completed == len(ids), {v: s for v, s in final.items() if s != "ready"}
    assert not found.duplicated, found.duplicated
    assert not found.broken, found.broken
    assert found.objects_checked >= 5 * len(ids)
