"""The one runner of every ffmpeg and ffprobe child process.

Modelled on Shaka Streamer's NodeBase: every run is an argument list (never a shell
string), logged shell-quoted so it can be pasted into a terminal, tracked by a
`ProcessStatus`, and stopped by terminate-then-kill after a grace period. Runs are
watched from the event loop because the services that use them are asyncio (`run_blocking`
is for code that runs in a thread of its own). A run is started afresh (`child`), or forked
by a fork server of its binary when the service runs one (`forkserver`, ingest's ffprobe).
`-progress pipe:1` is parsed into a fraction of a known duration, and the tail of stderr is
kept, scrubbed of paths, so a failure says what ffmpeg said without naming the server's
files.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import errno
import functools
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace

from services.shared import telemetry
from services.shared.locations import redact, scrub
from services.shared.media import forkserver
from services.shared.media.child import RunningChild, spawn
from services.shared.media.errors import FfmpegError
from services.shared.media.fields import to_int
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]


class ProcessStatus(enum.Enum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    FINISHED = "finished"
    ERRORED = "errored"
    CANCELLED = "cancelled"


def ffmpeg_argv(args: Sequence[str], settings: CommonSettings | None = None, *,
                progress: bool = False, loglevel: str = "error") -> list[str]:
    """Full ffmpeg argv: our standard global options, then `args`.

    `-nostdin` because ffmpeg would otherwise read keystrokes from our stdin; `-y` because
    every output lives in a job-private directory.
    """
    settings = settings or CommonSettings()
    argv = [settings.ffmpeg_path, "-hide_banner", "-nostdin", "-y", "-loglevel", loglevel]
    if progress:
        argv += ["-progress", "pipe:1", "-nostats"]
    return argv + list(args)


def ffprobe_argv(args: Sequence[str], settings: CommonSettings | None = None) -> list[str]:
    settings = settings or CommonSettings()
    return [settings.ffprobe_path, "-hide_banner", "-loglevel", "error", *args]


class FfmpegRun:
    """One ffmpeg or ffprobe process.

    `start()` launches it, `wait()` awaits the end and raises `FfmpegError` on failure;
    cancelling the task blocked in `wait()` stops the process (terminate, then kill after
    `grace_s`) before the `CancelledError` propagates. When the argv carries
    `-progress pipe:1` (see `ffmpeg_argv(progress=True)`) stdout is parsed into
    `last_progress` and `on_progress`; otherwise it is captured when `capture_stdout` is set
    and discarded if not.
    """

    def __init__(self, argv: Sequence[str], *, name: str | None = None,
                 duration_s: float | None = None, total_frames: int | None = None,
                 on_progress: ProgressCallback | None = None,
                 capture_stdout: bool = False, grace_s: float = 2.0,
                 stderr_lines: int = 50, log_level: int = logging.INFO,
                 on_stderr_line: Callable[[str], None] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.parses_progress = "pipe:1" in self.argv[1:] and "-progress" in self.argv
        if on_progress is not None and not self.parses_progress:
            raise ValueError("on_progress needs `-progress pipe:1` in the argv")
        if capture_stdout and self.parses_progress:
            raise ValueError("progress and captured stdout both need stdout")
        self.name = name or Path(self.argv[0]).name
        #: Shell-quoted, with URL query strings (presigned credentials) cut off.
        self.command = shlex.join(redact(arg) for arg in self.argv)
        self.duration_s = duration_s
        self.total_frames = total_frames
        self._fraction = -1.0  # last reported; -1 so that a first 0.0 is reported too
        self.on_progress = on_progress
        self.capture_stdout = capture_stdout
        self.grace_s = grace_s
        self.log_level = log_level
        #: Sees every stderr line (filters print their summaries there, e.g. psnr/ssim).
        self.on_stderr_line = on_stderr_line
        #: Extra environment variables for the process (on top of ours).
        self.env = dict(env or {})
        self.status = ProcessStatus.NOT_STARTED
        self.stderr_tail: deque[str] = deque(maxlen=stderr_lines)
        self.last_progress: dict[str, str] = {}
        self.returncode: int | None = None
        self.started_at: float | None = None
        self.elapsed_s: float | None = None
        self._stdout = bytearray()
        self._proc: RunningChild | None = None
        self._span: trace.Span | None = None
        self._readers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    def scrubbed_stderr(self) -> list[str]:
        """The stderr tail as a user may read it: our argv's paths and URLs replaced by
        their last names (see `errors.scrub`)."""
        return [scrub(line, self.argv) for line in self.stderr_tail]

    async def start(self) -> None:
        if self.status is not ProcessStatus.NOT_STARTED:
            raise RuntimeError(f"{self.name} already started")
        log.log(self.log_level, "running %s", self.command)
        self.started_at = time.monotonic()
        limit = 1 << 20  # longest line read; x264/SVT option dumps run long
        server = None if self.env else forkserver.serving(self.argv)
        if server is not None:
            try:
                self._proc = await server.spawn(self.argv, limit=limit)
            except OSError as exc:  # the server is gone or cannot fork: start it here
                log.warning("the fork server could not start %s (%s); starting it afresh",
                            self.name, exc)
        try:
            if self._proc is None:
                argv, preexec = _dying_with_parent(self.argv,
                                                   (self.env or os.environ).get("PATH"))
                # Not asyncio's subprocesses: under uvloop they fork the whole service
                # (`child`).
                self._proc = await spawn(
                    argv, env={**os.environ, **self.env} if self.env else None,
                    preexec_fn=preexec, limit=limit)
        except OSError as exc:
            self.status = ProcessStatus.ERRORED
            raise FfmpegError(f"cannot start {self.name}: {scrub(str(exc), self.argv)}",
                              command=self.command) from exc
        self.status = ProcessStatus.RUNNING
        self._span = telemetry.tracer("reelflow.ffmpeg").start_span(
            "ffprobe run" if "ffprobe" in self.name else "ffmpeg run",
            attributes={"process.executable.name": self.name,
                        "process.command_line": self.command[:4000]})
        self._readers = [asyncio.create_task(self._read_stdout(self._proc.stdout)),
                         asyncio.create_task(self._read_stderr(self._proc.stderr))]

    async def wait(self) -> None:
        """Wait for the end; raise `FfmpegError` unless it exited 0."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not started")
        try:
            returncode = await self._proc.wait()
            await asyncio.gather(*self._readers)
        except asyncio.CancelledError:
            # Shielded: a second cancellation must not leave the process running.
            await asyncio.shield(self.cancel())
            raise
        self._finish(returncode)
        if self.status is ProcessStatus.CANCELLED:
            raise asyncio.CancelledError(f"{self.name} was cancelled")
        if returncode != 0:
            self.status = ProcessStatus.ERRORED
            raise FfmpegError(f"{self.name} exited with {returncode}", command=self.command,
                              returncode=returncode, stderr_tail=self.scrubbed_stderr())
        self.status = ProcessStatus.FINISHED

    async def run(self) -> FfmpegRun:
        await self.start()
        await self.wait()
        return self

    async def cancel(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after `grace_s`.

        On SIGTERM ffmpeg stops reading but still flushes its encoders and writes trailers,
        which with deep lookahead (x264 veryslow) takes seconds; runs whose partial output is
        worthless anyway should pass a short `grace_s`.
        """
        proc = self._proc
        if proc is None or self.status is not ProcessStatus.RUNNING:
            return
        self.status = ProcessStatus.CANCELLED
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.grace_s)
            except TimeoutError:
                log.warning("%s ignored SIGTERM for %.1f s; killing it", self.name, self.grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._finish(proc.returncode)
        log.info("%s stopped (exit %s)", self.name, proc.returncode)

    def _finish(self, returncode: int | None) -> None:
        self.returncode = returncode
        if self.elapsed_s is None and self.started_at is not None:
            self.elapsed_s = time.monotonic() - self.started_at
        if self._span is not None:
            self._span.set_attribute("process.exit.code", -1 if returncode is None else returncode)
            if returncode != 0:
                self._span.set_status(trace.StatusCode.ERROR, f"exit {returncode}")
            self._span.end()
            self._span = None

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        if not self.parses_progress:
            while chunk := await stream.read(65536):
                if self.capture_stdout:
                    self._stdout += chunk
            return
        block: dict[str, str] = {}
        while line := await stream.readline():
            key, _, value = line.decode(errors="replace").strip().partition("=")
            block[key] = value
            if key == "progress":  # the last key of every -progress block
                self.last_progress = block
                if self.on_progress is not None:
                    self._report(block, self.on_progress)
                block = {}

    def _report(self, block: dict[str, str], on_progress: ProgressCallback) -> None:
        # With several outputs `out_time_us` follows whichever muxer wrote last (a fast
        # audio output runs seconds ahead of the video), so video jobs count frames of the
        # first video output instead, and the fraction never goes back.
        frame, out_us = to_int(block.get("frame")), to_int(block.get("out_time_us"))
        if block.get("progress") == "end":
            fraction = 1.0
        elif self.total_frames and frame is not None:
            fraction = frame / self.total_frames
        elif self.duration_s and out_us is not None:
            fraction = out_us / (self.duration_s * 1e6)
        else:
            return
        fraction = min(1.0, fraction)
        if fraction <= self._fraction:
            return
        self._fraction = fraction
        try:
            on_progress(fraction)
        except Exception:  # a broken progress sink must not kill the encode
            log.exception("progress callback of %s failed", self.name)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)
                if self.on_stderr_line is not None:
                    self.on_stderr_line(text)


_PR_SET_PDEATHSIG = 1
#: util-linux's setpriv(1) sets the parent-death signal and execs the command (same pid).
SETPRIV = "setpriv"


def _dying_with_parent(argv: list[str], path: str | None = None,
                       ) -> tuple[list[str], Callable[[], None] | None]:
    """The argv and preexec_fn that make the child die (SIGKILL) when the service does: a
    SIGKILLed service must not leave an orphan encoding on, as the job is redone by the
    partition's next owner.

    Through `setpriv --pdeathsig KILL` when it works here, so no `preexec_fn` is needed:
    with one, CPython must fork() the whole service instead of vfork() (see `child`). The
    binary is looked up first so a missing one still fails to start (OSError) instead of
    setpriv exiting 127.
    """
    setpriv = _setpriv()
    if setpriv is None:
        return argv, _die_with_parent
    if shutil.which(argv[0], path=path) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    return [setpriv, "--pdeathsig", "KILL", "--", *argv], None


@functools.cache
def _setpriv() -> str | None:
    """setpriv's absolute path if it works here, else None. Once per process (a few ms,
    blocking, at the first run): util-linux is essential on Debian, but not everywhere, and
    `--pdeathsig` is from 2.33 on. The path, so a spawn does not try each PATH entry."""
    found = shutil.which(SETPRIV)
    if found is None:
        return None
    try:
        works = subprocess.run([found, "--pdeathsig", "KILL", "--", "true"],
                               capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    return found if works else None


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL us when our parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass  # not Linux: the service's own shutdown path still stops its ffmpeg


async def run_ffmpeg(args: Sequence[str], settings: CommonSettings | None = None, *,
                     name: str = "ffmpeg", duration_s: float | None = None,
                     on_progress: ProgressCallback | None = None, loglevel: str = "error",
                     stderr_lines: int = 50) -> FfmpegRun:
    """Run ffmpeg with our standard options to completion (progress parsed when asked)."""
    run = FfmpegRun(ffmpeg_argv(args, settings, progress=on_progress is not None,
                                loglevel=loglevel),
                    name=name, duration_s=duration_s, on_progress=on_progress,
                    stderr_lines=stderr_lines)
    return await run.run()


async def run_ffprobe_json(args: Sequence[str], settings: CommonSettings | None = None,
                           ) -> dict[str, Any]:
    run = FfmpegRun(ffprobe_argv(["-of", "json", *args], settings), capture_stdout=True,
                    log_level=logging.DEBUG)
    await run.run()
    try:
        return json.loads(run.stdout or b"{}")  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise FfmpegError(f"ffprobe printed invalid JSON: {exc}", command=run.command) from exc


def run_blocking(args: Sequence[str], settings: CommonSettings | None = None, *,
                 name: str = "ffmpeg", timeout_s: float | None = None) -> FfmpegRun:
    """`run_ffmpeg` for synchronous code in a thread without an event loop (tests, the
    packager's library entry point). A timeout stops the process like a cancel does and
    raises `TimeoutError`."""
    async def bounded() -> FfmpegRun:
        return await asyncio.wait_for(run_ffmpeg(args, settings, name=name), timeout_s)
    return asyncio.run(bounded())
