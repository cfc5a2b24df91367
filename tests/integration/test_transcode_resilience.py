"""The transcode service under failure, as a deployment sees it: whole `reelflow transcode`
processes on the real stack, jobs submitted over the ingest API or published by hand, and
outcomes read from the catalog API and the Kafka topics.

A second worker process joins the session's `transcode` group for this module, so a job
always has somewhere to go when its worker is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from schemas import ALL_TOPICS, DEAD_LETTER, RENDITION_DONE, VIDEO_CANCELLED, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.group_lag import describe_groups
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings
from services.shared.storage import ObjectStore
from services.transcode.settings import TranscodeSettings
from services.transcode.worker import TranscodeWorker, _claim
from tests.access import admin_headers
from tests.integration.test_pipeline import CATALOG, INGEST, submit, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import TEST_ENV

pytestmark = pytest.mark.integration

codec = EventCodec(ALL_TOPICS)
# Extra workers' metrics ports sit just above the stack worker's, inside the slot's range.
METRICS_BASE = int(TEST_ENV["REELFLOW_TRANSCODE_METRICS_PORT"]) + 40


# --------------------------------------------------------------------------- processes


def _stop_with_pytest() -> None:
    """In the worker, before exec: SIGTERM it when pytest dies, so a killed run never leaves
    a worker consuming from a later run's stack on the same ports."""
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG


class WorkerProcess:
    """One extra `reelflow transcode` process with its own scratch root, metrics port, log.

    Its own scratch root because a starting worker sweeps its root: on a shared root it would
    delete the stack worker's live job directory.
    """

    def __init__(self, name: str, index: int, root: Path,
                 settings: dict[str, str] | None = None, command: str = "transcode") -> None:
        self.name = name
        self.work_dir = root / f"{name}-work"
        self.log = root / f"{name}.log"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        own = f"REELFLOW_{command.upper()}_"  # a long-job worker: transcode or captions
        env = {**os.environ,
               f"{own}METRICS_PORT": str(METRICS_BASE + index),
               f"{own}INSTANCE_ID": f"resilience-{name}-{os.getpid()}",
               f"{own}WORK_DIR": str(self.work_dir),
               **(settings or {})}
        with self.log.open("ab") as out:
            # Its own session, so stop() signals it without touching pytest's group.
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", command],
                                         env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True,
                                         preexec_fn=_stop_with_pytest)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_assigned(self, timeout: float = 60) -> None:
        """Until the group gave this member partitions of `video-uploaded`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            if f"'{VIDEO_UPLOADED.name}/" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name} got no partitions: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="module")
def extra_worker(pipeline, tmp_path_factory) -> Iterator[WorkerProcess]:
    root = tmp_path_factory.mktemp("transcode-workers")
    # A leftover of an imagined crashed run: the worker must sweep it as it starts.
    leftover = root / "second-work" / f"{uuid.uuid4()}-1"
    (leftover / "out").mkdir(parents=True)
    (leftover / "out" / "720p.mp4").write_bytes(b"half an encode")
    worker = WorkerProcess("second", 1, root)
    worker.leftover = leftover  # type: ignore[attr-defined]
    try:
        worker.wait_assigned()
        yield worker
    finally:
        worker.stop()


def stack_worker_pid(pipeline) -> int | None:  # type: ignore[no-untyped-def]
    return pipeline.component("transcode").process.pid


def ffmpeg_for(video_id: str) -> list[tuple[int, int]]:
    """(pid, parent pid) of every ffmpeg process working on `video_id` (scratch paths in its
    argv name the video)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        is_ffmpeg = bool(argv) and b"ffmpeg" in argv[0].rsplit(b"/", 1)[-1]
        if is_ffmpeg and any(video_id.encode() in a for a in argv):
            # stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            found.append((int(entry.name), ppid))
    return found


def wait_for_ffmpeg(video_id: str, timeout: float = 120,
                    under: int | None = None) -> tuple[int, int]:
    """(pid, parent pid) of the first ffmpeg seen for `video_id` (run by worker `under`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [f for f in ffmpeg_for(video_id) if under is None or f[1] == under]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError(f"no ffmpeg ever ran for {video_id}"
                         + (f" under worker {under}" if under else ""))


def running(pid: int) -> bool:
    """The process exists and is not a zombie (state from /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_encode_progress(video_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", timeout=10,
                          headers=admin_headers())
        if reply.status_code == 200:
            last = reply.json()
            if (last.get("progress") or {}).get("encode", 0) > 0:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{video_id} never showed encode progress; last seen: {last}")


# --------------------------------------------------------------------------- Kafka


def read_topic(bootstrap: str, topic: str, keep, until, timeout: float = 60) -> list:  # type: ignore[no-untyped-def]
    """Records of `topic` from the start that `keep(record)` accepts (as its return value),
    until `until(kept)` holds. The session's log is shared, and other tests put poison on
    it on purpose (the console's, the poison pills): a record that is not a Reelflow event
    is nobody's output here, so it is passed over, as every consumer dead-letters it."""

    async def read() -> list:
        consumer = AIOKafkaConsumer(topic, **client_options(), bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        kept: list = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until(kept):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        try:
                            value = keep(record)
                        except UndecodableRecord:
                            continue
                        if value is not None:
                            kept.append(value)
            return kept
        finally:
            await consumer.stop()

    return asyncio.run(read())


def publish_upload(bootstrap: str, event: VideoUploaded, partition: int | None = None) -> bytes:
    value = codec.encode(VIDEO_UPLOADED, event)

    async def send() -> None:
        producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(VIDEO_UPLOADED.name, value,
                                         key=event.video_id.encode(), partition=partition)
        finally:
            await producer.stop()

    asyncio.run(send())
    return value


# --------------------------------------------------------------------------- tests


def test_a_sigkilled_worker_mid_encode_is_taken_over_and_the_catalog_shows_one_set(
        pipeline, extra_worker, common_settings, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", 1280, 720, seconds=20)
    reply = submit(clip, metadata='{"title": "Takeover"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]

    # Mid-encode, observed rather than hoped for: the catalog shows encode progress (ffmpeg
    # has reported output time), and the encoding ffmpeg is still alive when its worker dies.
    wait_for_encode_progress(video_id)
    ffmpeg_pid, owner = wait_for_ffmpeg(video_id)
    stack_pid = stack_worker_pid(pipeline)
    assert owner in {stack_pid, extra_worker.pid}, (owner, stack_pid, extra_worker.pid)
    other = extra_worker.pid if owner == stack_pid else stack_pid
    assert other is not None and running(other)
    try:
        # The kill lands while ffmpeg runs: alive, and still the worker's child, right
        # before it.
        assert running(ffmpeg_pid) and (ffmpeg_pid, owner) in ffmpeg_for(video_id), \
            "ffmpeg had already finished before the worker was killed"
        os.kill(owner, signal.SIGKILL)
        # ffmpeg runs in its own session (a job is stopped as a group) but asks Linux to
        # SIGKILL it when its worker dies: no orphan encodes on.
        try:
            wait_until(lambda: not running(ffmpeg_pid), "ffmpeg to die with its worker", 10,
                       every=0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(ffmpeg_pid, signal.SIGKILL)

        # The other worker took the job over: ffmpeg runs again for this video, its child.
        again, _ = wait_for_ffmpeg(video_id, timeout=120, under=other)
        assert again != ffmpeg_pid
        video = wait_for_status(video_id, {"ready", "failed"}, timeout=230)
    finally:
        if owner == stack_pid:
            pipeline.component("transcode").start()  # later tests expect the stack's worker
    assert video["status"] == "ready", video
    assert video["attempts"] == [1]
    names = [r["rendition"] for r in video["renditions"]]
    assert len(names) == len(set(names)), names
    assert set(names) == set(video["expected_renditions"])
    assert video["package"] is not None and video["package"]["attempt"] == 1
    packaged = [r["rendition"] for r in video["package"]["renditions"]]
    assert len(packaged) == len(set(packaged)), packaged
    timeline = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/events", timeout=10,
                         headers=admin_headers()).json()
    done_entries = [e for e in timeline["events"] if e["topic"] == RENDITION_DONE.name]
    assert sorted(e["attempt"] for e in done_entries) == [1] * len(video["expected_renditions"])

    # The topic may hold the redone job's events twice; each repeat has the same event id.
    expected = set(video["expected_renditions"])
    done = read_topic(
        common_settings.kafka_bootstrap, RENDITION_DONE.name,
        lambda r: (lambda e: e if e.video_id == video_id else None)(
            codec.decode(RENDITION_DONE, r.value)),
        lambda kept: {e.rendition for e in kept} >= expected)
    ids: dict[str, set[str]] = {}
    for event in done:
        assert event.attempt == 1
        ids.setdefault(event.rendition, set()).add(event.event_id)
    assert set(ids) == expected
    assert all(len(v) == 1 for v in ids.values()), ids
    # No encode runs on (an orphan would have a new parent); the scorer and the captions
    # worker may still run ffmpeg over the ready video's outputs, after the fact.
    after_the_fact = {pipeline.component(name).process.pid for name in ("scoring", "captions")}
    assert not [f for f in ffmpeg_for(video_id) if f[1] not in after_the_fact]

    # Aligned keyframes across the rungs of what the pipeline produced (2 s GOPs).
    rungs = [r for r in video["renditions"] if r["media_type"] == "VIDEO"]
    times = {r["rendition"]: keyframe_times(r["url"], tmp_path) for r in rungs}
    first = next(iter(times.values()))
    assert all(t == first for t in times.values()), times
    assert first[:3] == [0.0, 2.0, 4.0], first


def keyframe_times(url: str, tmp: Path) -> list[float]:
    target = url if url.startswith("http") else CATALOG + url
    path = tmp / f"{uuid.uuid4()}.mp4"
    path.write_bytes(httpx.get(target, timeout=60).content)
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame",
                             "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0",
                             str(path)], capture_output=True, text=True, timeout=60, check=True)
    # csv rows may carry a trailing empty side-data column: "0.000000,".
    return [round(float(line.split(",")[0]), 2) for line in result.stdout.split()]


def _upload_event(video_id: str, uri: str, sha256: str | None) -> VideoUploaded:
    return VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                         occurred_at=datetime.now(UTC), source_uri=uri, source_sha256=sha256,
                         user_metadata_json=json.dumps({"title": "broken on purpose"}))


@pytest.mark.parametrize("case, code", [("truncated", "undecodable_source"),
                                         ("missing", "source_missing"),
                                         ("wrong_sha256", "checksum_mismatch")])
def test_a_bad_source_fails_with_its_code_and_is_dead_lettered_with_the_original_bytes(
        pipeline, common_settings, tmp_path, case, code):
    store = ObjectStore(common_settings)
    video_id = str(uuid.uuid4())
    ref = store.ref(f"sources/{video_id}/original")
    # moov atom last (no faststart): cutting the file in half loses the index.
    data = make_clip(tmp_path / "whole.mp4", 640, 360, seconds=3).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if case == "truncated":
        data = data[: len(data) // 2]
        sha = hashlib.sha256(data).hexdigest()
    elif case == "wrong_sha256":
        sha = hashlib.sha256(b"something else").hexdigest()
    if case != "missing":
        store.put_bytes(data, ref, "video/mp4")
    value = publish_upload(common_settings.kafka_bootstrap, _upload_event(video_id, ref.uri, sha))

    video = wait_for_status(video_id, {"ready", "failed"}, timeout=90)
    assert video["status"] == "failed", video
    assert video["error"]["stage"] == "transcode" and video["error"]["code"] == code, video

    letters = read_topic(
        common_settings.kafka_bootstrap, DEAD_LETTER.name,
        lambda r: (lambda e: e if e.video_id == video_id
                   and e.consumer_group == "transcode" else None)(
            codec.decode(DEAD_LETTER, r.value)),
        lambda kept: bool(kept))
    # One dead letter. The topic may hold it twice: a rebalance between the dead letter and
    # the offset commit (the SIGKILL test above restarts the stack's worker) has the new
    # owner redo the record, and the repeat carries the same event id, which the catalog's
    # read model applies once.
    assert len({letter.event_id for letter in letters}) == 1, letters
    for letter in letters:
        assert letter.original_value == value
        assert letter.original_topic == VIDEO_UPLOADED.name
        assert letter.error_code == code


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough that the encode still runs when the cancel comes (made once)."""
    return make_clip(tmp_path_factory.mktemp("cancel") / "longer.mp4", 1280, 720, seconds=30)


def cancel_and_see_it_stop(video_id: str, ffmpeg_pid: int, scratch: list[Path]) -> None:
    """DELETE the video; within 10 s its ffmpeg is gone, the catalog shows it cancelled and
    its scratch is removed."""
    asked = [0.0]

    def cancel() -> int | None:
        asked[0] = time.monotonic()
        status = httpx.delete(f"{INGEST}/api/v1/videos/{video_id}", timeout=30,
                              headers=admin_headers()).status_code
        return None if status == 404 else status  # a 404 writes nothing: ask again

    # Ingest knows a hand-published video once its own group has read the upload.
    assert wait_until(cancel, "ingest to know the video", 30, every=0.2) in (200, 202)
    cancelled_at = asked[0]  # when the accepted DELETE was sent
    while ffmpeg_for(video_id) and time.monotonic() - cancelled_at < 10:
        time.sleep(0.1)
    assert not ffmpeg_for(video_id), "ffmpeg still runs 10 s after the cancel"
    assert not Path(f"/proc/{ffmpeg_pid}").exists() or \
        "Z" in Path(f"/proc/{ffmpeg_pid}/stat").read_text().split(")")[1].split()[0]
    video = wait_for_status(video_id, {"cancelled"}, timeout=60)
    assert video["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while any(p.exists() for p in scratch) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p.exists() for p in scratch), scratch


def scratch_of(video_id: str, extra_worker: WorkerProcess) -> list[Path]:
    roots = [TranscodeSettings(common=CommonSettings()).job_root, extra_worker.work_dir]
    scratch = [p for root in roots for p in root.glob(f"{video_id}-*")]
    assert scratch, f"no scratch directory for {video_id} under {roots}"
    return scratch


def test_cancelling_a_running_job_stops_ffmpeg_and_removes_its_scratch(
        pipeline, extra_worker, long_clip):
    reply = submit(long_clip, metadata='{"title": "Cancel me"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    wait_for_encode_progress(video_id)
    ffmpeg_pid, _ = wait_for_ffmpeg(video_id, timeout=10)
    cancel_and_see_it_stop(video_id, ffmpeg_pid, scratch_of(video_id, extra_worker))


def group_owners(common: CommonSettings, group: str) -> dict[tuple[str, int], str]:
    """(topic, partition) -> the member id that holds it in `group` now."""
    async def describe() -> dict[tuple[str, int], str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap,
                                    **client_options(common))
        await admin.start()
        try:
            state = (await describe_groups(admin, [group]))[group]
        finally:
            await admin.close()
        return {tp: m.member_id for m in state.members for tp in m.assignment}

    return asyncio.run(describe())


def test_a_cancel_stops_the_job_on_a_worker_that_does_not_own_its_partition(
        pipeline, extra_worker, common_settings, long_clip):
    """A job's partition need not be its video's (the lane router places a job by worker
    slot): the upload goes to a `video-uploaded` partition whose member does not hold the
    video's `video-cancelled` partition in the group, and the cancel still stops it."""
    video_id = str(uuid.uuid4())
    partitions = list(range(VIDEO_CANCELLED.partitions))
    # Where ingest's cancel lands: keyed by video id, Kafka's default partitioner.
    cancels_on = DefaultPartitioner()(video_id.encode(), partitions, partitions)
    owners = group_owners(common_settings, "transcode")
    cancel_owner = owners.get((VIDEO_CANCELLED.name, cancels_on))
    job_on = next((p for p in range(VIDEO_UPLOADED.partitions)
                   if owners.get((VIDEO_UPLOADED.name, p)) not in (None, cancel_owner)), None)
    assert job_on is not None, f"one member holds every partition: {owners}"

    store = ObjectStore(common_settings)
    ref = store.ref(f"sources/{video_id}/original")
    store.put_bytes(long_clip.read_bytes(), ref, "video/mp4")
    publish_upload(common_settings.kafka_bootstrap,
                   _upload_event(video_id, ref.uri, None).replace(captions=False),
                   partition=job_on)
    wait_for_encode_progress(video_id)
    ffmpeg_pid, runner = wait_for_ffmpeg(video_id, timeout=10)
    assert runner in {stack_worker_pid(pipeline), extra_worker.pid}, runner
    cancel_and_see_it_stop(video_id, ffmpeg_pid, scratch_of(video_id, extra_worker))
    cancels = read_topic(
        common_settings.kafka_bootstrap, VIDEO_CANCELLED.name,
        lambda r: r.partition if codec.decode(VIDEO_CANCELLED, r.value).video_id == video_id
        else None, bool)
    assert cancels == [cancels_on]


def test_a_starting_worker_sweeps_scratch_left_by_a_crashed_run(extra_worker, tmp_path):
    # The real process: its fixture planted a leftover before starting it.
    assert not extra_worker.leftover.exists()
    assert extra_worker.work_dir.is_dir()


def test_sweep_removes_a_dead_runs_scratch_and_keeps_a_live_peers(tmp_path):
    settings = TranscodeSettings(work_dir=tmp_path / "work", common=CommonSettings())
    (settings.job_root / "a-1" / "out").mkdir(parents=True)
    (settings.job_root / "a-1" / "out" / "360p.mp4").write_bytes(b"x")
    (settings.job_root / "b-2").mkdir()
    (settings.job_root / "stray.tmp").write_bytes(b"x")
    # A dead worker's job: its lock file is there, but nobody holds the lock any more.
    (settings.job_root / "c-1").mkdir()
    _claim(settings.job_root / "c-1").close()
    # A live peer's running job on the same root (same host, same state dir): kept.
    (settings.job_root / "d-1").mkdir()
    live = _claim(settings.job_root / "d-1")
    try:
        TranscodeWorker(settings, producer=None, store=None).sweep()  # type: ignore[arg-type]
        assert sorted(p.name for p in settings.job_root.iterdir()) == ["d-1"]
    finally:
        live.close()
    TranscodeWorker(settings, producer=None, store=None).sweep()  # type: ignore[arg-type]
    assert settings.job_root.is_dir() and not any(settings.job_root.iterdir())
