"""The process runner: every child learns to die with the service (SIGKILL as its
parent-death signal), through setpriv(1) where it works so CPython may vfork, else through a
preexec_fn; a binary that does not exist still fails to start, with a message naming no
server path."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from services.shared.media import process
from services.shared.media.errors import FfmpegError
from services.shared.media.process import FfmpegRun

#: The child reports its own parent-death signal (prctl PR_GET_PDEATHSIG = 2).
REPORT_PDEATHSIG = (
    "import ctypes; libc = ctypes.CDLL('libc.so.6'); sig = ctypes.c_int(); "
    "libc.prctl(2, ctypes.byref(sig), 0, 0, 0); print(sig.value)"
)


def _child_pdeathsig() -> int:
    run = FfmpegRun([sys.executable, "-c", REPORT_PDEATHSIG], capture_stdout=True)
    asyncio.run(run.run())
    return int(run.stdout)


def test_setpriv_works_on_this_machine() -> None:
    # Debian's util-linux has it; without it every run would fork the whole service.
    assert process._setpriv_works()


def test_a_child_started_through_setpriv_dies_with_its_parent() -> None:
    argv, preexec = process._dying_with_parent([sys.executable, "-V"])
    assert argv[:4] == ["setpriv", "--pdeathsig", "KILL", "--"] and preexec is None
    assert _child_pdeathsig() == signal.SIGKILL


def test_without_setpriv_a_preexec_fn_sets_the_same_signal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "_setpriv_works", lambda: False)
    argv, preexec = process._dying_with_parent([sys.executable, "-V"])
    assert argv == [sys.executable, "-V"] and preexec is process._die_with_parent
    assert _child_pdeathsig() == signal.SIGKILL


@pytest.mark.parametrize("binary", ["ffprobe-that-is-not-installed",
                                    "/opt/secret/bin/ffmpeg-missing"])
def test_a_missing_binary_fails_to_start_and_names_no_server_path(binary: str) -> None:
    run = FfmpegRun([binary, "-version"], name="ffprobe")
    with pytest.raises(FfmpegError) as caught:
        asyncio.run(run.start())
    assert "cannot start ffprobe" in str(caught.value)
    assert "/opt/secret" not in str(caught.value)
