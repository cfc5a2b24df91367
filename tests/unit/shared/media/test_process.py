"""The process runner: every child learns to die with the service (SIGKILL as its
parent-death signal), through setpriv(1) where it works so CPython may vfork, else through a
preexec_fn; a child started from the services' uvloop loop leaves the service's memory
unshared; a binary that does not exist still fails to start, with a message naming no
server path."""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
from pathlib import Path

import pytest
import uvloop

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
    assert process._setpriv() is not None


def test_a_child_started_through_setpriv_dies_with_its_parent() -> None:
    argv, preexec = process._dying_with_parent([sys.executable, "-V"])
    assert argv[0] == process._setpriv() and Path(argv[0]).name == "setpriv"
    assert argv[1:5] == ["--pdeathsig", "KILL", "--", sys.executable] and preexec is None
    assert _child_pdeathsig() == signal.SIGKILL


def test_without_setpriv_a_preexec_fn_sets_the_same_signal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "_setpriv", lambda: None)
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


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_child_of_a_uvloop_service_leaves_its_memory_unshared() -> None:
    """A fork would mark every page copy-on-write: rewriting 64 MiB after the run would
    fault all 16,384 of its pages again. A vfork marks none."""
    buffer, source = bytearray(64 << 20), bytearray(b"x" * (64 << 20))
    buffer[:] = source  # resident

    async def run_then_rewrite() -> int:
        await FfmpegRun([sys.executable, "-c", "pass"]).run()
        before = _faults()
        buffer[:] = source
        return _faults() - before

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(run_then_rewrite()) < 1000


def test_a_run_on_uvloop_reads_both_outputs_and_its_exit_status() -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    run = FfmpegRun([sys.executable, "-c", script], name="ffprobe", capture_stdout=True)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner, \
            pytest.raises(FfmpegError, match="exited with 3"):
        runner.run(run.run())
    assert run.stdout == b"out\n" and list(run.stderr_tail) == ["err"]
    assert run.returncode == 3


def test_a_cancelled_run_on_uvloop_stops_its_child() -> None:
    run = FfmpegRun([sys.executable, "-c", "import time; time.sleep(60)"], grace_s=0.5)

    async def start_then_cancel() -> None:
        await run.start()
        task = asyncio.ensure_future(run.wait())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(start_then_cancel())
    assert run.returncode == -signal.SIGTERM
