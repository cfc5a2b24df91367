"""A child process spawned by the standard library and watched from the event loop.

Why not `asyncio.create_subprocess_exec`: the services run on uvloop, whose subprocesses
are libuv's `uv_spawn`, a full fork(). A fork marks every page of the service
copy-on-write, so after each child every page the service writes faults and is copied
once more. In ingest, with 4 uploads streaming and an ffprobe per upload, that was ~300
page faults per MB received (`./run bench ingest`; perf: most of them in the part
buffers' memmove). CPython's `subprocess.Popen` vfork()s when it is given no `preexec_fn`
(the parent-death signal comes from setpriv, see `process`): the child borrows the memory
until it execs, and nothing is copied or marked. The pipes then belong to the loop
(`connect_read_pipe`) and the exit is a pidfd turning readable, so no thread waits.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import IO


class RunningChild(abc.ABC):
    """A running child: its pid, stdout and stderr readers, and its exit. Started by
    `spawn` (a `Child`), or forked by a fork server (`forkserver.ServedChild`)."""

    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader
    _exited: asyncio.Future[int]

    @property
    @abc.abstractmethod
    def pid(self) -> int: ...

    @property
    @abc.abstractmethod
    def returncode(self) -> int | None: ...

    async def wait(self) -> int:
        """The exit status (negative: killed by that signal). Cancelling the wait leaves
        the watch running."""
        return await asyncio.shield(self._exited)

    @abc.abstractmethod
    def send_signal(self, sig: int) -> None: ...

    @abc.abstractmethod
    def kill(self) -> None: ...


class Child(RunningChild):
    """A child this process started."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader, exited: asyncio.Future[int]) -> None:
        self._popen = popen
        self.stdout = stdout
        self.stderr = stderr
        self._exited = exited

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def send_signal(self, sig: int) -> None:
        # Popen reaps first and never signals a reaped pid (which may be another's now).
        self._popen.send_signal(sig)

    def kill(self) -> None:
        self._popen.kill()


async def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None,
                preexec_fn: Callable[[], None] | None, limit: int,
                pass_fds: Sequence[int] = ()) -> Child:
    """Start `argv` in its own session with stdin from /dev/null and both outputs piped
    (and `pass_fds` kept open in it). Raises OSError when it cannot start (as Popen
    does)."""
    loop = asyncio.get_running_loop()
    popen = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, preexec_fn=preexec_fn, pass_fds=tuple(pass_fds),
        # Its own session: a Ctrl-C in the terminal reaches the service, which then
        # cancels the run, instead of killing the child behind the service's back.
        start_new_session=True)
    try:
        assert popen.stdout is not None and popen.stderr is not None
        stdout = await read_pipe(loop, popen.stdout, limit)
        stderr = await read_pipe(loop, popen.stderr, limit)
        exited = _watch_exit(loop, popen)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        popen.wait()
        raise
    return Child(popen, stdout, stderr, exited)


async def read_pipe(loop: asyncio.AbstractEventLoop, pipe: IO[bytes],
                  limit: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    # The transport owns the pipe from here and closes it at end of file.
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                 pipe)
    return reader


def _watch_exit(loop: asyncio.AbstractEventLoop,
                popen: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    try:
        pidfd = os.pidfd_open(popen.pid)
    except (AttributeError, OSError):
        # No pidfd (not Linux, or a kernel before 5.3): a worker thread waits instead.
        return asyncio.ensure_future(loop.run_in_executor(None, popen.wait))
    exited: asyncio.Future[int] = loop.create_future()

    def on_exit() -> None:
        code = popen.poll()  # reaps it; None only if woken before the exit
        if code is None:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(code)

    loop.add_reader(pidfd, on_exit)
    return exited
