"""Priority lanes and fair share on the session's real stack: the lane router and a lane
worker (one `reelflow transcode` with REELFLOW_TRANSCODE_LANES on) replace the stack's
direct worker for this module, and every test keeps that worker busy with a blocker job
before it submits the jobs whose order it checks.

The worker is kept busy deterministically: the blocker's ffmpeg encode is stopped
(SIGSTOP) while a test submits and routes its jobs, and continued once they all wait.
Order is read from the log, not from timing: a job's start is its first
`transcode-progress` (one worker, one slot: jobs start one after the other), readiness its
`video-transcoded`. Jobs are published straight onto `video-uploaded` (as an upstream
service would) with one small stored source, so 30 jobs cost one upload; what a test no
longer needs it cancels, so the worker is idle again for the next test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import (
    ALL_TOPICS,
    LANE_TOPICS,
    TRANSCODE_LANE_HIGH,
    TRANSCODE_LANE_LOW,
    TRANSCODE_LANE_NORMAL,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    Topic,
)
from schemas.events import VideoCancelled, VideoUploaded
from services.catalog.group_replay import Target, execute, plan
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options, stack_principal
from tests.access import admin_headers
from tests.integration.test_cancel import _ingest_has_read_all_of
from tests.integration.test_pipeline import CATALOG, INGEST
from tests.integration.test_transcode_resilience import ffmpeg_for
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import TEST_STATE

# Slow: 30-odd queued videos behind a busy worker; `./run slow` runs it.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

codec = EventCodec(ALL_TOPICS)
#: The lane worker's weights here: small, so a share shows within a few jobs (high 2 to
#: low 1: while both have work, one slot in three is low's).
WEIGHTS = '{"high": 2, "normal": 2, "low": 1}'


class Process:
    """One `reelflow <command>` of this module, with its own log."""

    def __init__(self, command: str, log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", command],
                                         env={**os.environ, **env}, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        def seen() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            return text in self.log.read_text(errors="replace")
        wait_until(seen, f"{text!r} in {self.log.name}", timeout)



def stop_together(processes: list[Process], grace_s: float = 30) -> None:
    """SIGTERM to all at once (each takes seconds to leave its group), SIGKILL to any still
    running after `grace_s`."""
    running = [p for p in processes if p.proc.poll() is None]
    for process in running:
        os.killpg(process.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait(10)


def as_principal(name: str) -> dict[str, str]:
    credentials = stack_principal(TEST_STATE, name)
    return {"REELFLOW_KAFKA_USERNAME": credentials.username,
            "REELFLOW_KAFKA_PASSWORD": credentials.password}


@pytest.fixture(scope="module")
def lanes(pipeline, common_settings, tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("lanes")
    stack_worker = pipeline.component("transcode")
    stack_worker.stop()
    router = worker = None
    try:
        # `latest`: the router schedules this module's uploads, not the session's earlier ones.
        logs = TEST_STATE / "logs"  # beside the stack's own, kept after the session
        # Each as its own Kafka principal, so the ACLs the registry implies are what they
        # run with (the tests' own clients are the stack's super user).
        router = Process("router", logs / "lanes-router.log", {
            **as_principal("router"), "REELFLOW_ROUTER_START_FROM": "latest",
            "REELFLOW_ROUTER_METRICS_PORT": "0"})
        worker = Process("transcode", logs / "lanes-transcode.log", {
            **as_principal("transcode"),
            "REELFLOW_TRANSCODE_LANES": "true", "REELFLOW_TRANSCODE_LANE_WEIGHTS": WEIGHTS,
            "REELFLOW_TRANSCODE_SCORE_QUALITY": "false", "REELFLOW_TRANSCODE_METRICS_PORT": "0",
            "REELFLOW_TRANSCODE_WORK_DIR": str(root / "work")})
        router.wait_for(f"'{VIDEO_UPLOADED.name}/")
        worker.wait_for(f"'{TRANSCODE_LANE_HIGH.name}/")
        # No audio: one output less to encode, probe and upload per job.
        clip = make_clip(root / "clip.mp4", 640, 360, seconds=1, audio=False)
        yield {"bootstrap": common_settings.kafka_bootstrap, "router": router,
               "source": _store(pipeline, common_settings, clip)}
    finally:
        stop_together([p for p in (worker, router) if p is not None])
        # The stack's direct worker must not redo this module's uploads.
        moved = asyncio.run(plan(common_settings, "transcode", VIDEO_UPLOADED.name,
                                 Target("latest")))
        asyncio.run(execute(common_settings, moved))
        pipeline.restart("transcode")


def _store(pipeline: Any, common: Any, clip: Path) -> tuple[str, str]:
    from services.shared.storage import ObjectStore
    store = ObjectStore(common)
    data = clip.read_bytes()
    ref = store.ref(f"sources/lanes-{uuid.uuid4()}/original")
    store.put_bytes(data, ref, "video/mp4")
    return ref.uri, hashlib.sha256(data).hexdigest()


def upload(source: tuple[str, str], priority: int, owner: str,
           renditions: tuple[str, ...] | None = ("240p",)) -> VideoUploaded:
    return VideoUploaded(event_id=str(uuid.uuid4()), video_id=str(uuid.uuid4()),
                         occurred_at=datetime.now(UTC), source_uri=source[0],
                         source_sha256=source[1], priority=priority, owner=owner,
                         renditions=renditions, user_metadata_json='{"title": "lanes"}')


async def _send(bootstrap: str, items: list[tuple[Topic, Any]]) -> None:
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, event in items:
            await producer.send_and_wait(topic.name, codec.encode(topic, event),
                                         key=event.video_id.encode())
    finally:
        await producer.stop()


def publish(bootstrap: str, *uploads: VideoUploaded) -> None:
    asyncio.run(_send(bootstrap, [(VIDEO_UPLOADED, u) for u in uploads]))


def cancel(bootstrap: str, *uploads: VideoUploaded) -> None:
    asyncio.run(_send(bootstrap, [(VIDEO_CANCELLED, VideoCancelled(
        event_id=str(uuid.uuid4()), video_id=u.video_id, occurred_at=datetime.now(UTC),
        reason="test over")) for u in uploads]))


class Log:
    """Reads a topic from the offsets it had when made: first event per video."""

    def __init__(self, bootstrap: str, topic: Topic) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        self.positions = asyncio.run(self._ends())
        self.first: dict[str, datetime] = {}

    async def _ends(self) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            return dict(await consumer.end_offsets(self.tps))
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            consumer.assign(self.tps)
            for tp in self.tps:
                consumer.seek(tp, self.positions[tp])
            ends = await consumer.end_offsets(self.tps)
            while any(self.positions[tp] < ends[tp] for tp in self.tps):
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        event = codec.decode(self.topic, record.value)
                        self.first.setdefault(event.video_id, event.occurred_at)
                        self.positions[tp] = record.offset + 1
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    def order(self, among: list[VideoUploaded]) -> list[str]:
        """Video ids of `among` that have an event, first first."""
        asyncio.run(self._read())
        wanted = {u.video_id for u in among}
        return sorted((v for v in self.first if v in wanted), key=lambda v: self.first[v])


def lane_ends(bootstrap: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(t.name, p) for t in LANE_TOPICS for p in range(t.partitions)]
            ends = await consumer.end_offsets(tps)
            return {t.name: sum(ends[tp] for tp in tps if tp.topic == t.name)
                    for t in LANE_TOPICS}
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()
    return asyncio.run(read())


def drained(bootstrap: str) -> None:
    """Until the transcode group has finished (or skipped) everything on the lanes."""
    async def lag() -> int:
        from services.shared.group_lag import collect
        report = await collect(bootstrap, {}, ["transcode"])
        return sum(p.lag or 0 for g in report for p in g.partitions
                   if p.topic in {t.name for t in LANE_TOPICS})
    wait_until(lambda: asyncio.run(lag()) == 0, "the lanes to drain", timeout=60)


def encode_of(video_id: str) -> int | None:
    """The pid of the ffmpeg encoding `video_id` (its argv names the job's scratch dir)."""
    for pid, _ in ffmpeg_for(video_id):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"-filter_complex" in argv:
            return pid
    return None


@contextlib.contextmanager
def busy(lanes: dict[str, Any], owner: str = "blocker") -> Iterator[VideoUploaded]:
    """A blocker job on the worker, its encode stopped from the moment it runs until the
    block ends (so it is short to run, yet holds the worker as long as a test needs)."""
    blocker = upload(lanes["source"], 5, owner, renditions=None)
    publish(lanes["bootstrap"], blocker)
    pid = wait_until(lambda: encode_of(blocker.video_id), "the blocker's encode", timeout=60,
                     every=0.02)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield blocker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def patch(video_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.patch(f"{INGEST}/api/v1/videos/{video_id}", json=body,
                       headers=admin_headers(), timeout=30)


def test_a_priority_10_video_behind_20_priority_1_ones_starts_next_and_is_ready_first(lanes):
    """...and the last of the priority-1 videos, reprioritised to 9 while it waits, starts
    ahead of the 17 held before it; the catalog shows the waiting ones' places."""
    bootstrap = lanes["bootstrap"]
    starts, ready = Log(bootstrap, TRANSCODE_PROGRESS), Log(bootstrap, VIDEO_TRANSCODED)
    low = [upload(lanes["source"], 1, "admin") for _ in range(20)]
    urgent = upload(lanes["source"], 10, "admin")
    with busy(lanes, owner="admin") as blocker:
        try:
            high_before = lane_ends(bootstrap)[TRANSCODE_LANE_HIGH.name]
            publish(bootstrap, *low)
            publish(bootstrap, urgent)
            # While they wait, the catalog shows each held priority-1 video's place in the
            # low lane (two of the twenty are already dispatched: the worker's next and
            # one more): one snapshot in which the places run 1..18.
            mine = {v.video_id for v in low}

            def places() -> dict[str, int] | None:
                found, sizes = {}, set()
                for item in httpx.get(f"{CATALOG}/api/v1/videos",
                                      params={"status": "uploaded", "limit": 100},
                                      headers=admin_headers(), timeout=30).json()["items"]:
                    queue = item.get("queue")
                    if item["video_id"] in mine and queue is not None:
                        assert queue["lane"] == TRANSCODE_LANE_LOW.name, queue
                        found[item["video_id"]] = queue["position"]
                        sizes.add(queue["waiting"])
                return found if sizes == {18} and sorted(found.values()) == list(
                    range(1, 19)) else None
            held = wait_until(places, "queue positions in the catalog", timeout=30)
            # The last in line asks for priority 9: into the high lane, behind the 10.
            last = max(held, key=held.__getitem__)
            # Ingest learns upstream uploads from its own group: 404 until it read this one.
            moved = wait_until(lambda: (r := patch(last, {"priority": 9})).status_code != 404
                               and r, "ingest to know the video", timeout=30)
            assert moved.status_code == 202, moved.text
            assert (moved.json()["priority"], moved.json()["previous_priority"]) == (9, 1)
            assert patch(str(uuid.uuid4()), {"priority": 9}).json()["error"] == \
                "video_not_found"
            assert patch(last, {"priority": 11}).json()["error"] == "invalid_priority"
            wait_until(lambda: lane_ends(bootstrap)[TRANSCODE_LANE_HIGH.name] >= high_before + 2,
                       "the router to dispatch both to the high lane", timeout=30)
            # The catalog's answer follows the change: priority 9, a `reprioritised` entry.
            wait_until(lambda: httpx.get(f"{CATALOG}/api/v1/videos/{last}",
                                         headers=admin_headers(), timeout=30
                                         ).json()["priority"] == 9,
                       "the catalog to show priority 9", timeout=30)
            timeline = httpx.get(f"{CATALOG}/api/v1/videos/{last}/events",
                                 headers=admin_headers(), timeout=30).json()["events"]
            assert [e["kind"] for e in timeline].count("reprioritised") == 1, timeline
        except BaseException:
            cancel(bootstrap, blocker, urgent, *low)
            raise
    try:
        order = wait_until(lambda: (found := [v for v in starts.order([blocker, urgent, *low])
                                              if v != blocker.video_id])[2:] and found,
                           "three jobs after the blocker to start", timeout=90)
        assert order[0] == urgent.video_id
        # High 2 to low 1: after the 10, the low lane's credit has grown to a slot of its
        # own (its next, already dispatched), then the reprioritised one: 17 waited longer.
        assert order[1] in {v.video_id for v in low} - {last} and order[2] == last, order
        # A video transcode began cannot change priority: once ingest's group read every
        # transcode-progress so far (the 10's among them), the answer is 409.
        wait_until(lambda: _ingest_has_read_all_of(bootstrap, "ingest", TRANSCODE_PROGRESS.name,
                                                   TRANSCODE_PROGRESS.partitions),
                   "ingest to read the progress events", timeout=30)
        refused = patch(urgent.video_id, {"priority": 1})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "video_not_reprioritisable"
        first_ready = wait_until(lambda: ready.order([urgent, *low]) or None,
                                 "a video to be ready", timeout=90)
        assert first_ready[0] == urgent.video_id
    finally:
        cancel(bootstrap, blocker, urgent, *low)
        drained(bootstrap)


def test_one_video_of_tenant_b_waits_at_most_one_job_behind_tenant_a_s_30(lanes):
    bootstrap = lanes["bootstrap"]
    starts = Log(bootstrap, TRANSCODE_PROGRESS)
    many = [upload(lanes["source"], 5, "tenant-a") for _ in range(30)]
    single = upload(lanes["source"], 5, "tenant-b")
    with busy(lanes, owner="tenant-a") as first:
        normal = lane_ends(bootstrap)[TRANSCODE_LANE_NORMAL.name]
        publish(bootstrap, *many)
        # The worker's next job (one slot: the depth is the running one plus the next).
        wait_until(lambda: lane_ends(bootstrap)[TRANSCODE_LANE_NORMAL.name] > normal,
                   "tenant A's next job on the lane", timeout=30)
        publish(bootstrap, single)
    try:
        wait_until(lambda: single.video_id in starts.order([single]), "B's video to start",
                   timeout=120)
        order = [v for v in starts.order([first, *many, single]) if v != first.video_id]
        ahead = order.index(single.video_id)
        # Only the job already on the lane as the worker's next ran before B's.
        assert ahead <= 1, f"{ahead} of tenant A's jobs started before B's"
    finally:
        cancel(bootstrap, first, *many, single)
        drained(bootstrap)


def test_a_low_lane_under_a_steady_high_lane_progresses_at_its_weight(lanes):
    bootstrap = lanes["bootstrap"]
    starts = Log(bootstrap, TRANSCODE_PROGRESS)
    high = [upload(lanes["source"], 9, "steady") for _ in range(6)]
    low = [upload(lanes["source"], 2, "patient") for _ in range(3)]
    with busy(lanes) as blocker:
        before = lane_ends(bootstrap)
        publish(bootstrap, *high, *low)
        wait_until(lambda: (ends := lane_ends(bootstrap))[TRANSCODE_LANE_HIGH.name] ==
                   before[TRANSCODE_LANE_HIGH.name] + 2 and ends[TRANSCODE_LANE_LOW.name] ==
                   before[TRANSCODE_LANE_LOW.name] + 2, "both lanes to hold work", timeout=30)
    try:
        order = wait_until(lambda: (found := [v for v in starts.order([blocker, *high, *low])
                                              if v != blocker.video_id])[5:] and found,
                           "six jobs to start after the blocker", timeout=180)
        lows = {u.video_id for u in low}
        # Weights high 2, low 1: while both lanes have work, one slot in three is low's,
        # so the high lane never starves the low one and never loses its own share.
        assert sum(v in lows for v in order[:6]) == 2, order[:6]
        assert any(v in lows for v in order[:3])
    finally:
        cancel(bootstrap, blocker, *high, *low)
        drained(bootstrap)
