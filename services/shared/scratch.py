"""Per-job scratch directories of the long-job workers (transcode, captions).

A job's directory is locked (flock) by the process running it. Several workers may share
one scratch root (one host, one state dir), so a starting worker's sweep removes only the
directories whose lock nobody holds: the kernel drops a dead worker's lock, however it
died, and a live peer's running job is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

#: Held (flock) by the worker running the job in this directory.
OWNER_LOCK = ".owner"


def claim(job_dir: Path) -> IO[str]:
    """Lock `job_dir` for this process until the returned file is closed (or we die)."""
    handle = (job_dir / OWNER_LOCK).open("w")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def owned_by_live_worker(path: Path) -> bool:
    try:
        handle = (path / OWNER_LOCK).open("r")
    except OSError:  # no lock file: not a job directory, or one of a dead worker
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def sweep_scratch(root: Path) -> None:
    """Remove what crashed runs left under `root`; keep live peers' job directories."""
    if root.exists():
        for leftover in root.iterdir():
            if owned_by_live_worker(leftover):
                log.info("keeping %s: a live worker owns it", leftover)
                continue
            log.info("sweeping leftover scratch %s", leftover)
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
