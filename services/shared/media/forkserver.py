"""Runs of ffprobe forked from one loaded copy of it, instead of a fresh start each.

Why: a start of Debian's ffprobe costs ~100-130 CPU-ms before its main() runs (215 shared
libraries loaded, relocated and constructed; `perf` puts two thirds of it in ld.so), and
ingest probes every upload. `forkserver.c`, preloaded into one long-lived ffprobe, keeps
the loaded process and forks a copy of it per run, which then runs ffprobe's own main() on
the run's argv. On this project's bench clip a probe went from 143 to 32 CPU-ms.

A served run is still one `FfmpegRun` (logged, cancelled by terminate-then-kill): only
how the process comes to be differs, so `process` asks `serving()` for a server first and
starts the binary itself when there is none. Runs see the environment and working
directory the server was started with, so a run with extra environment is never served.
A server that dies is restarted at the next run after it; the runs it had die with it
(SIGKILL), as a directly started run dies with the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from services.shared.media.child import Child, RunningChild, read_pipe, spawn

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("forkserver.c")
MAX_MESSAGE = 65536 - 1  # forkserver.c's MAX_MESSAGE, less its end
MAX_ARGS = 1024  # forkserver.c's MAX_ARGS
READY_TIMEOUT_S = 10.0
RESTART_AFTER_S = 1.0
_INT32 = struct.Struct("=i")


def library_path() -> Path:
    """Where the built library lives: in the virtualenv, named by the source's digest, so
    a changed source is built afresh and a stale build is never loaded."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return Path(sys.prefix) / "lib" / "reelflow" / f"forkserver-{digest}.so"


def build() -> Path:
    """Compile `forkserver.c` (setup runs this; cached). Raises when no C compiler works."""
    target = library_path()
    if target.exists():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc) to build the ffprobe fork server")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    built = subprocess.run([compiler, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(partial),
                            str(SOURCE), "-ldl", "-lpthread"], capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"building the ffprobe fork server failed:\n{built.stderr}")
    partial.replace(target)
    return target


class ServedChild(RunningChild):
    """A run forked by the server: the same face as a `Child` the service started itself.
    Its signals go through the server's reply socket, and the run raises them on itself."""

    def __init__(self, pid: int, reply: _Watched, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self._pid, self._reply = pid, reply
        self.stdout, self.stderr, self._exited = stdout, stderr, _exit_status(reply)

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    def send_signal(self, sig: int) -> None:
        if not self._exited.done():
            self._reply.send(bytes([sig]))

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def hang_up(self) -> None:
        """Close our end of the reply socket: the run kills itself (SIGKILL) as it would
        if the service died, and its status is no longer awaited."""
        self._reply.close()


class ForkServer:
    """One long-lived `binary` with `forkserver.c` preloaded, and the runs it forks."""

    def __init__(self, binary: str, library: Path) -> None:
        self.binary, self.library = binary, library
        self._server: Child | None = None
        self._control: socket.socket | None = None
        self._restarting: asyncio.Task[None] | None = None
        self._started_at = 0.0

    @property
    def alive(self) -> bool:
        return self._server is not None and self._server.returncode is None

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server else None

    def serves(self, argv: Sequence[str]) -> bool:
        """Whether `argv` can be run here: our binary, and an argv the server can take."""
        if not argv or argv[0] != self.binary or not self.alive or len(argv) > MAX_ARGS:
            return False
        return sum(len(os.fsencode(arg)) + 1 for arg in argv) <= MAX_MESSAGE

    async def start(self) -> None:
        """Start the server and wait until it is ready. Raises OSError if it is not."""
        self._started_at = time.monotonic()
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "LD_PRELOAD": str(self.library), "LD_BIND_NOW": "1",
               "REELFLOW_FORKSERVER_FD": str(theirs.fileno()),
               "REELFLOW_FORKSERVER_PARENT": str(os.getpid())}
        try:
            # It sets its own parent-death signal (forkserver.c): no setpriv or preexec_fn.
            server = await spawn([self.binary], env=env, preexec_fn=None, limit=1 << 16,
                                 pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        waiter = _Watched(asyncio.get_running_loop(), control)
        try:
            ready = await asyncio.wait_for(asyncio.shield(waiter.receive(1)), READY_TIMEOUT_S)
        except TimeoutError:
            ready = b""
        finally:
            waiter.stop_waiting()
        if ready != b"R":
            server.kill()
            await server.wait()
            complaint = (await server.stderr.read(2000)).decode(errors="replace").strip()
            control.close()
            raise OSError(f"the {Path(self.binary).name} fork server did not start"
                          + (f": {complaint}" if complaint else ""))
        self._server, self._control = server, control
        log.debug("%s fork server ready (pid %d)", Path(self.binary).name, server.pid)

    async def stop(self) -> None:
        if self._restarting is not None:
            self._restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restarting
            self._restarting = None
        await self._close()

    async def _close(self) -> None:
        if self._control is not None:
            self._control.close()  # the server exits when its control socket closes
            self._control = None
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait(), 5)
            except TimeoutError:
                self._server.kill()
                await self._server.wait()
            self._server = None

    def restart_if_dead(self) -> None:
        """A dead server comes back in the background, at most once a second."""
        if self.alive or (self._restarting and not self._restarting.done()):
            return
        if time.monotonic() - self._started_at < RESTART_AFTER_S:
            return
        log.warning("the %s fork server ended (exit %s); restarting it",
                    Path(self.binary).name, self._server.returncode if self._server else None)
        self._restarting = asyncio.create_task(self._restart())

    async def _restart(self) -> None:
        await self._close()
        try:
            await self.start()
        except OSError as exc:
            log.warning("%s; runs start the binary themselves", exc)

    async def spawn(self, argv: Sequence[str], *, limit: int) -> ServedChild:
        """Fork a run of `argv` (which `serves()`): stdin /dev/null, outputs piped. Raises
        OSError when the server cannot fork it or is gone."""
        assert self._control is not None
        loop = asyncio.get_running_loop()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        reply = _Watched(loop, mine)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            message = b"".join(os.fsencode(arg) + b"\0" for arg in argv)
            try:
                await _send(loop, self._control, message, [theirs.fileno(), out_write,
                                                           err_write])
            finally:
                theirs.close()
                os.close(out_write)
                os.close(err_write)
            head = await reply.receive(_INT32.size)
            if len(head) != _INT32.size:
                raise OSError(f"the {Path(self.binary).name} fork server is gone")
            (pid,) = _INT32.unpack(head)
            if pid < 0:
                raise OSError(-pid, os.strerror(-pid))
            stdout = await read_pipe(loop, os.fdopen(out_read, "rb", 0), limit)
            out_read = -1
            stderr = await read_pipe(loop, os.fdopen(err_read, "rb", 0), limit)
            err_read = -1
        except BaseException:
            reply.close()  # a started run is killed when its reply socket closes
            for fd in (out_read, err_read):
                if fd >= 0:
                    os.close(fd)
            raise
        return ServedChild(pid, reply, stdout, stderr)


async def _send(loop: asyncio.AbstractEventLoop, control: socket.socket, message: bytes,
                fds: list[int]) -> None:
    while True:
        try:
            socket.send_fds(control, [message], fds)
            return
        except BlockingIOError:  # the server is behind: wait until it takes more
            writable = loop.create_future()
            loop.add_writer(control, writable.set_result, None)
            try:
                await writable
            finally:
                loop.remove_writer(control)


class _Watched:
    """Our end of a socket to the server: a run's reply socket, or the control socket.
    Watched by its fd, not `loop.sock_recv`: uvloop defers a socket's close() while a
    sock_recv waits on it, so a hang-up would never reach the run."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._loop, self._sock, self._fd = loop, sock, sock.fileno()
        self._waiting: asyncio.Future[bytes] | None = None

    def receive(self, size: int) -> asyncio.Future[bytes]:
        """The next message (b"" once the server's end is gone)."""
        received: asyncio.Future[bytes] = self._loop.create_future()
        self._waiting = received

        def on_readable() -> None:
            try:
                data = self._sock.recv(size)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            self._unwatch()
            received.set_result(data)

        self._loop.add_reader(self._fd, on_readable)
        return received

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the run ended meanwhile: nothing to tell it
            self._sock.send(data)

    def close(self) -> None:
        self.stop_waiting()
        self._sock.close()

    def stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._unwatch()

    def _unwatch(self) -> None:
        if self._waiting is not None:
            self._loop.remove_reader(self._fd)
            self._waiting = None


def _exit_status(reply: _Watched) -> asyncio.Future[int]:
    """The run's exit status, as `Popen.returncode` has it (then the reply is closed). A
    server that dies takes its runs with it (SIGKILL, their parent-death signal), so no
    status means that."""
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_status(done: asyncio.Future[bytes]) -> None:
        if done.cancelled():
            exited.cancel()
            return
        reply.close()
        status = done.result()
        exited.set_result(_INT32.unpack(status)[0] if len(status) == _INT32.size
                          else -signal.SIGKILL)

    reply.receive(_INT32.size).add_done_callback(on_status)
    return exited


_serving: dict[str, ForkServer] = {}


def serving(argv: Sequence[str]) -> ForkServer | None:
    """The running server that can fork `argv`, if any (none: start the binary itself)."""
    server = _serving.get(argv[0]) if argv else None
    if server is None:
        return None
    if server.serves(argv):
        return server
    server.restart_if_dead()
    return None


@contextlib.asynccontextmanager
async def serve(binary: str) -> AsyncIterator[ForkServer | None]:
    """Serve runs of `binary` from a fork server for as long as the block runs. Without
    the built library, or when the server does not start, runs start the binary themselves
    (as they did before) and this says so once."""
    library = library_path()
    if binary in _serving or "LD_PRELOAD" in os.environ or not library.exists():
        if not library.exists():
            log.warning("the fork server is not built (./run setup); every %s run starts "
                        "the binary afresh", Path(binary).name)
        yield None
        return
    server = ForkServer(binary, library)
    try:
        await server.start()
    except OSError as exc:
        log.warning("%s; every run starts the binary afresh", exc)
        yield None
        return
    _serving[binary] = server
    try:
        yield server
    finally:
        del _serving[binary]
        await server.stop()


if __name__ == "__main__":
    print(build())
