"""The projector survives SIGKILL anywhere, and `catalog rebuild` reproduces the live model.

Over 10,000 realistic events (the unit tests' `VideoStory`, encoded by `EventCodec`) go on
the topics. Two `reelflow catalog --role projector` processes, each with a consumer group
and a Postgres schema of its own, replay them: one uninterrupted, one SIGKILLed several
times at random moments (mid-batch included) and restarted until it caught up. Offsets and
read models commit in one transaction, so the two models must be equal, byte for byte, in
a canonical dump. Then `reelflow catalog rebuild` rebuilds the uninterrupted one's schema
while its API keeps answering, and the rebuilt model must equal the one it replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from psycopg.conninfo import make_conninfo

from schemas import (
    ALL_TOPICS,
    topic_by_name,
)
from services.catalog.rebuild import canonical_dump
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings
from tests.access import admin_headers
from tests.integration.quiet import services_paused
from tests.integration.test_catalog import pipeline_log_ends
from tests.ports import free_port
from tests.unit.catalog.stories import Step, VideoStory

# 10,000 events projected twice, a crashed projector and a rebuild: about two minutes, `./run slow`.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

RUN = uuid.uuid4().hex[:8]
VIDEOS = 1300
SEED = int(os.environ.get("REELFLOW_CRASH_SEED", "0")) or random.randrange(1, 10**6)
codec = EventCodec(ALL_TOPICS)


def stories(rng: random.Random) -> list[Step]:
    """A realistic mix: mostly ready videos, some failed, cancelled, reprocessed, and
    producer retries (the same event twice); interleaved across videos."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    per_video: list[list[Step]] = []
    for i in range(VIDEOS):
        story = VideoStory(t0=t0 + timedelta(seconds=i))
        kind = i % 10
        if kind == 6:
            steps = [story.uploaded(0), story.progress("encode", 30, 2), story.failed(4)]
        elif kind == 7:
            steps = [story.uploaded(0), story.progress("encode", 20, 2), story.cancelled(3)]
        elif kind == 8:
            again = VideoStory(story.video_id, attempt=2, t0=story.t0)
            steps = [*story.happy_path(), again.uploaded(60), again.progress("encode", 50, 62),
                     again.rendition("360p", 65)]
        else:
            steps = story.happy_path()
            if kind == 9:
                steps.append(steps[rng.randrange(len(steps))])  # a producer retry
        per_video.append(steps)
    # Interleave videos but keep each one's steps in order (as one producer would send them).
    cursors = [0] * VIDEOS
    pending = [i for i in range(VIDEOS) for _ in per_video[i]]
    rng.shuffle(pending)
    out = []
    for i in pending:
        out.append(per_video[i][cursors[i]])
        cursors[i] += 1
    return out


async def _publish(bootstrap: str, steps: list[Step]) -> None:
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, codec.encode(topic_by_name(topic), event),
                                    key=event.video_id.encode())
                for topic, event in steps]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def log_ends(common: CommonSettings) -> dict[tuple[str, int], int]:
    return asyncio.run(pipeline_log_ends(common.kafka_bootstrap))


@dataclass
class Projection:
    """One catalog process (projector, or API + projector) on a schema and group of its own."""

    name: str
    common: CommonSettings
    logs: Path
    role: str = "projector"
    schema: str = ""
    group: str = ""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills_mid_replay: int = 0
    history: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = f"crash_{self.name}_{RUN}"
        self.group = f"crash-{self.name}-{RUN}"
        with psycopg.connect(self.common.pg_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")  # type: ignore[arg-type]

    @property
    def dsn(self) -> str:
        return make_conninfo(self.common.pg_dsn, options=f"-c search_path={self.schema}")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "REELFLOW_PG_DSN": self.dsn,
                "REELFLOW_CATALOG_GROUP_ID": self.group,
                "REELFLOW_CATALOG_PORT": str(self.port),
                # Small batches: many transactions, so a kill lands inside one often.
                "REELFLOW_CATALOG_BATCH_MAX_RECORDS": "500",
                "REELFLOW_CATALOG_LAG_REFRESH_S": "0", "REELFLOW_LOG_LEVEL": "WARNING"}

    def start(self, role: str | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.port = free_port()
        self.starts += 1
        log = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "catalog", "--role", role or self.role],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def stored(self) -> dict[tuple[str, int], int]:
        try:
            with psycopg.connect(self.dsn, connect_timeout=5) as conn:
                rows = conn.execute('SELECT topic, "partition", next_offset FROM'
                                    " consumer_offsets WHERE group_id = %s",
                                    (self.group,)).fetchall()
        except psycopg.errors.UndefinedTable:  # migrations not applied yet
            return {}
        return {(t, p): o for t, p, o in rows}

    def applied(self, ends: dict[tuple[str, int], int]) -> float:
        """Fraction of the log applied (by stored offsets)."""
        stored = self.stored()
        return sum(min(stored.get(k, 0), e) for k, e in ends.items()) / max(1, sum(ends.values()))

    def dump(self) -> bytes:
        async def read() -> bytes:
            async with await psycopg.AsyncConnection.connect(self.dsn) as conn:
                return await canonical_dump(conn)
        return asyncio.run(read())

    def drop(self) -> None:
        self.stop()
        with psycopg.connect(self.common.pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")  # type: ignore[arg-type]


def _nonzero(ends: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    return {k: e for k, e in ends.items() if e > 0}


def wait_caught_up(projections: list[Projection], common: CommonSettings,
                   timeout: float) -> dict[tuple[str, int], int]:
    """Until every projection stored the log ends, and the ends stopped moving (a projector
    may add dead letters to the log while it catches up)."""
    deadline = time.monotonic() + timeout
    while True:
        ends = _nonzero(log_ends(common))
        stored = {p.name: p.stored() for p in projections}
        behind = {name: {k: (s.get(k), e) for k, e in ends.items() if s.get(k, 0) < e}
                  for name, s in stored.items()}
        if not any(behind.values()) and _nonzero(log_ends(common)) == ends:
            return ends
        for p in projections:
            assert p.proc is not None and p.proc.poll() is None, \
                f"{p.name} exited: see {p.logs}/{p.name}-{p.starts}.log"
        assert time.monotonic() < deadline, f"not caught up: {behind}"
        time.sleep(0.3)


@dataclass
class Replayed:
    common: CommonSettings
    reference: Projection
    crashed: Projection
    events: int
    seconds: float


@pytest.fixture(scope="module")
def replayed(local_stack: Any, common_settings: CommonSettings,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    with services_paused(local_stack, common_settings, also=("ingest",)):
        yield from _replayed(common_settings, tmp_path_factory)


def _replayed(common_settings: CommonSettings,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    rng = random.Random(SEED)
    print(f"\ncrash test seed {SEED} (REELFLOW_CRASH_SEED={SEED} repeats it)")
    steps = stories(rng)
    assert len(steps) >= 10_000
    asyncio.run(_publish(common_settings.kafka_bootstrap, steps))
    logs = tmp_path_factory.mktemp("projector-logs")
    reference = Projection("reference", common_settings, logs)
    crashed = Projection("crashed", common_settings, logs)
    started = time.monotonic()
    try:
        reference.start()
        ends = _nonzero(log_ends(common_settings))
        # One kill soon after start (startup, first batch), then kills at random points of
        # the replay, each a random few milliseconds past the point so it lands mid-batch.
        marks = sorted(rng.uniform(0.1, 0.9) for _ in range(4))
        crashed.start()
        time.sleep(rng.uniform(1.0, 4.0))
        crashed.kill()
        crashed.history.append(f"killed after start at {crashed.applied(ends):.0%}")
        for mark in marks:
            crashed.start()
            deadline = time.monotonic() + 60
            while crashed.applied(ends) < mark and time.monotonic() < deadline:
                assert crashed.proc is not None and crashed.proc.poll() is None
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.15))
            crashed.kill()
            progress = crashed.applied(ends)
            crashed.history.append(f"killed at {progress:.0%} (mark {mark:.0%})")
            crashed.kills_mid_replay += progress < 1.0
        crashed.start()
        wait_caught_up([reference, crashed], common_settings, timeout=120)
        seconds = time.monotonic() - started
        print(f"replayed {len(steps)} events in {seconds:.1f} s; crashed projector: "
              + "; ".join(crashed.history))
        reference.stop()
        crashed.stop()
        yield Replayed(common_settings, reference, crashed, len(steps), seconds)
    finally:
        reference.drop()
        crashed.drop()


def test_a_projector_killed_mid_replay_ends_with_the_same_model(replayed: Replayed) -> None:
    assert replayed.crashed.kills_mid_replay >= 3, replayed.crashed.history
    reference, crashed = replayed.reference.dump(), replayed.crashed.dump()
    assert reference.count(b"\n") > replayed.events  # every event: its timeline or dead-letter row
    if reference != crashed:
        diff = sorted(set(reference.splitlines()) ^ set(crashed.splitlines()))
        raise AssertionError(f"models differ in {len(diff)} lines, e.g. {diff[:5]}")


def test_rebuild_switches_to_an_equal_model_while_the_api_serves(replayed: Replayed) -> None:
    live = replayed.reference
    before = live.dump()
    live.start(role="all")  # the API and the live projector run through the rebuild
    api = f"http://127.0.0.1:{live.port}"
    _wait_healthy(api, live)
    answers: list[Any] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                reply = httpx.get(f"{api}/api/v1/stats", timeout=60, headers=admin_headers())
                answers.append((reply.status_code, reply.json().get("total_videos")))
            except httpx.HTTPError as exc:
                answers.append(("error", repr(exc)))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    rebuilt_after = datetime.now(UTC)
    try:
        done = subprocess.run([sys.executable, "-m", "services.cli", "catalog", "rebuild"],
                              env=live.env, capture_output=True, text=True, timeout=180)
    finally:
        stop.set()
        poller.join(70)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"schema '{live.schema}' now holds the rebuilt read models" in done.stdout
    expected = answers[0][1] if answers else None
    assert answers and all(a == (200, expected) for a in answers), set(map(str, answers))
    with psycopg.connect(live.common.pg_dsn) as conn:
        fresh = conn.execute(f"SELECT min(recorded_at) FROM {live.schema}.timeline"
                             ).fetchone()  # type: ignore[arg-type]
        leftovers = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE"
                                 " 'rebuild\\_%%' OR nspname LIKE 'retired\\_%%'").fetchall()
    assert fresh is not None and fresh[0] >= rebuilt_after, "the tables were not replaced"
    assert leftovers == []
    assert httpx.get(f"{api}/health", timeout=10).status_code == 200
    after = live.dump()  # nothing new on the log: the live projector has nothing to add
    if before != after:
        diff = sorted(set(before.splitlines()) ^ set(after.splitlines()))
        raise AssertionError(f"rebuilt model differs in {len(diff)} lines, e.g. {diff[:5]}")

    # The live projector goes on writing, into the rebuilt tables.
    newcomer = VideoStory()
    asyncio.run(_publish(live.common.kafka_bootstrap, newcomer.happy_path()))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = httpx.get(f"{api}/api/v1/videos/{newcomer.video_id}", timeout=10,
                          headers=admin_headers())
        if reply.status_code == 200 and reply.json()["status"] == "ready":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the live projector applied nothing after the switch")
    live.stop()


def _wait_healthy(api: str, live: Projection) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert live.proc is not None and live.proc.poll() is None, "catalog exited"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError("catalog never became healthy")
