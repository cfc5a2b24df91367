"""The ffprobe fork server: a served run is Debian's ffprobe on its own argv, with its own
output, exit status and signals; it has no descriptor of the service's or of another
run's; it dies with the server, and the server with the service; runs it cannot serve, or
that come while it is down, start ffprobe themselves."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import uvloop

from services.shared.media import forkserver
from services.shared.media.errors import FfmpegError
from services.shared.media.forkserver import ForkServer, ServedChild
from services.shared.media.process import FfmpegRun
from services.shared.settings import CommonSettings

T = TypeVar("T")


@functools.cache
def ffprobe() -> str:
    return CommonSettings().ffprobe_path


def endless() -> list[str]:
    """An ffprobe that runs until stopped: it prints frames of an endless test source."""
    return [ffprobe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64",
            "-show_frames"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("forkserver") / "clip.mp4"
    subprocess.run([CommonSettings().ffmpeg_path, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264",
                    str(out)], check=True)
    return out


def probe_argv(path: Path) -> list[str]:
    return [ffprobe(), "-hide_banner", "-loglevel", "error", "-count_frames", "-show_format",
            "-show_streams", "-of", "json", str(path)]


def served(body: Callable[[ForkServer], Awaitable[T]]) -> T:
    """Run `body` on uvloop (as the services do) while a fork server serves ffprobe."""
    async def within() -> T:
        async with forkserver.serve(ffprobe()) as server:
            assert server is not None and server.alive
            return await body(server)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(within())


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def open_files(pid: int) -> set[str]:
    """What each of the process's descriptors points at (`socket:[inode]`, a path)."""
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # listdir's own, closed by now
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return links


def gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text(
                ).rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.02)
    return False


def test_setup_built_the_library_and_a_build_reuses_it() -> None:
    built = forkserver.library_path()
    assert built.exists(), "./run setup builds it"
    mtime = built.stat().st_mtime_ns
    assert forkserver.build() == built and built.stat().st_mtime_ns == mtime


def test_a_served_probe_prints_what_a_fresh_ffprobe_prints(clip: Path) -> None:
    fresh = subprocess.run(probe_argv(clip), capture_output=True, check=True).stdout

    async def probe(server: ForkServer) -> tuple[bytes, int]:
        run = FfmpegRun(probe_argv(clip), capture_stdout=True)
        await run.start()
        assert run.pid is not None
        forked_by = parent_of(run.pid)
        await run.wait()
        return run.stdout, forked_by == server.pid

    stdout, by_server = served(probe)
    assert by_server, "the run was forked by the server"
    assert stdout == fresh and b'"nb_read_frames": "25"' in stdout


def test_a_served_run_has_its_own_exit_status_and_stderr(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"

    async def probe_missing(_: ForkServer) -> FfmpegRun:
        run = FfmpegRun([ffprobe(), "-v", "error", str(missing)])
        with pytest.raises(FfmpegError, match="exited with 1"):
            await run.run()
        return run

    run = served(probe_missing)
    assert run.returncode == 1
    assert run.scrubbed_stderr() == ["nowhere.mp4: No such file or directory"]


def test_cancelling_a_served_run_terminates_it() -> None:
    async def start_then_cancel(_: ForkServer) -> tuple[FfmpegRun, int]:
        run = FfmpegRun(endless(), grace_s=2)
        await run.start()
        assert run.pid is not None
        task = asyncio.ensure_future(run.wait())
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return run, run.pid

    run, pid = served(start_then_cancel)
    assert run.returncode == -signal.SIGTERM and gone(pid)


def test_a_run_whose_service_hangs_up_is_killed() -> None:
    async def hang_up(server: ForkServer) -> int:
        child = await server.spawn(endless(), limit=1 << 16)
        assert isinstance(child, ServedChild)
        assert await child.stdout.readline() == b"[FRAME]\n"  # it runs
        child.hang_up()
        return child.pid

    assert gone(served(hang_up))


def test_a_served_run_holds_only_its_outputs_and_its_own_socket() -> None:
    async def two_runs(server: ForkServer) -> tuple[set[str], set[str], set[str]]:
        first = await server.spawn(endless(), limit=1 << 16)
        second = await server.spawn(endless(), limit=1 << 16)
        for run in (first, second):  # each is in ffprobe's main() by now
            assert await run.stdout.readline() == b"[FRAME]\n"
        fds = [open_files(first.pid), open_files(second.pid)]
        mine = open_files(os.getpid())
        for run in (first, second):
            run.kill()
            assert await run.wait() == -signal.SIGKILL
        return fds[0], fds[1], mine

    first, second, service = served(two_runs)
    for run in (first, second):
        assert "/dev/null" in run and len(run) == 4  # stdin, stdout, stderr, its socket
    sockets = [{link for link in run if link.startswith("socket:")} for run in (first, second)]
    assert len(sockets[0]) == len(sockets[1]) == 1 and not sockets[0] & sockets[1]
    assert not (first | second) & {link for link in service if link.startswith("/")} - {
        "/dev/null"}


def test_a_run_with_its_own_environment_starts_ffprobe_itself() -> None:
    async def with_env(_: ForkServer) -> int:
        run = FfmpegRun(endless(), env={"AV_LOG_FORCE_NOCOLOR": "1"}, grace_s=1)
        await run.start()
        assert run.pid is not None
        parent = parent_of(run.pid)
        await run.cancel()
        return parent

    assert served(with_env) == os.getpid()


def test_the_runs_die_with_the_server_and_later_runs_come_back_to_a_new_one(
        clip: Path) -> None:
    async def kill_server(server: ForkServer) -> tuple[int, int, int, int | None, int]:
        first = FfmpegRun(endless(), grace_s=1)
        await first.start()
        assert first.pid is not None and server.pid is not None
        old_server = server.pid
        os.kill(old_server, signal.SIGKILL)
        with pytest.raises(FfmpegError, match=f"exited with -{signal.SIGKILL.value}"):
            await first.wait()
        # While it is down a run starts ffprobe itself, and asks for a new server.
        direct = FfmpegRun(probe_argv(clip), capture_stdout=True)
        await direct.start()
        assert direct.pid is not None
        direct_parent = parent_of(direct.pid)
        await direct.wait()
        deadline = time.monotonic() + 20
        while (not server.alive or server.pid == old_server) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            forkserver.serving(probe_argv(clip))
        return first.pid, old_server, direct_parent, server.pid, len(direct.stdout)

    run_pid, old_server, direct_parent, new_server, printed = served(kill_server)
    assert gone(run_pid) and gone(old_server)
    assert direct_parent == os.getpid() and printed > 0
    assert new_server is not None and new_server != old_server


def test_a_run_the_server_can_no_longer_fork_starts_ffprobe_itself(clip: Path) -> None:
    async def after_a_death_not_yet_seen(server: ForkServer) -> tuple[bool, int, bytes]:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        # Dead but not reaped, so the loop has not seen it and the server looks alive.
        os.waitid(os.P_PID, server.pid, os.WEXITED | os.WNOWAIT)
        looked_alive = server.alive
        run = FfmpegRun(probe_argv(clip), capture_stdout=True)
        await run.start()
        assert run.pid is not None
        parent = parent_of(run.pid)
        await run.wait()
        return looked_alive, parent, run.stdout

    looked_alive, parent, stdout = served(after_a_death_not_yet_seen)
    assert looked_alive and parent == os.getpid()
    assert stdout == subprocess.run(probe_argv(clip), capture_output=True, check=True).stdout


def test_an_argv_longer_than_the_server_takes_starts_ffprobe_itself() -> None:
    async def long_argv(server: ForkServer) -> tuple[bool, bool, bool]:
        many = [ffprobe(), *["-hide_banner"] * forkserver.MAX_ARGS]
        huge = [ffprobe(), "-v", "error", "x" * forkserver.MAX_MESSAGE]
        return (server.serves(endless()), server.serves(many), server.serves(huge))

    assert served(long_argv) == (True, False, False)


def test_without_the_library_runs_start_ffprobe_themselves(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(forkserver, "library_path", lambda: tmp_path / "absent.so")

    async def unserved() -> tuple[ForkServer | None, int]:
        async with forkserver.serve(ffprobe()) as server:
            run = FfmpegRun(endless(), grace_s=1)
            await run.start()
            assert run.pid is not None
            parent = parent_of(run.pid)
            await run.cancel()
            return server, parent

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        server, parent = runner.run(unserved())
    assert server is None and parent == os.getpid()


SERVICE = """
import asyncio, sys
from services.shared.media import forkserver
async def main():
    async with forkserver.serve(sys.argv[1]) as server:
        print(server.pid, flush=True)
        await asyncio.Event().wait()  # until the test kills this process
asyncio.run(main())
"""


@pytest.fixture
def service() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", SERVICE, ffprobe()], stdout=subprocess.PIPE,
                            text=True)
    yield proc
    proc.kill()
    proc.wait()


def test_the_server_dies_with_the_service(service: subprocess.Popen[str]) -> None:
    assert service.stdout is not None
    server = int(service.stdout.readline())
    assert parent_of(server) == service.pid
    service.kill()
    service.wait()
    assert gone(server)


