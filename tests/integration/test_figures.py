"""The figures app (faust-streaming) on the real Kafka: windowed figures equal what was
published, survive a SIGKILL (rebuilt from the changelog topics), and a crash with records
not yet committed counts them once.

Every event of the test happens in one known minute, M, 90 minutes ago: far enough back that
no other test's events (stamped "now") share its 1- and 5-minute windows, and recent enough
that no window of M is expired. The two tenants' names are unique to the run.

The oracle is written down here: the counts per tenant, the windows of M computed from the
window definitions (1-minute tumbling; 5-minute windows every minute; 60-minute windows
every 5 minutes), and nearest-rank percentiles computed from the sorted latencies. The
app's histogram reports a percentile within 1/64 of the true value (its documented bucket
resolution), so p50/p95 are compared with that tolerance; every other figure exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import (
    ALL_TOPICS,
    CHANGELOG_TOPICS,
    DEAD_LETTER,
    FIGURES_WINDOWS,
    PACKAGING_FAILED,
    RENDITION_DONE,
    STACK_TOPICS,
    TRANSCODE_FAILED,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    Topic,
)
from schemas.events import (
    DeadLetter,
    MediaType,
    Record,
    RenditionDone,
    StageFailed,
    VideoCancelled,
    VideoTranscoded,
    VideoUploaded,
)
from schemas.ids import new_event_id
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.producer import EventProducer
from services.stack.apps import Service
from tests.integration.quiet import services_paused
from tests.slot import TEST_ENV

pytestmark = pytest.mark.integration

GROUP = "figures"
SOURCES = (VIDEO_UPLOADED, VIDEO_CANCELLED, RENDITION_DONE, TRANSCODE_FAILED,
           VIDEO_TRANSCODED, PACKAGING_FAILED, DEAD_LETTER)
FIGURES = f"http://127.0.0.1:{TEST_ENV['REELFLOW_FIGURES_PORT']}"
RUN = uuid.uuid4().hex[:8]
TENANT_A, TENANT_B = f"acme-{RUN}", f"globex-{RUN}"
MINUTE = 60_000
M = (int(time.time() * 1000) // MINUTE - 90) * MINUTE
WAIT_S = 90
codec = EventCodec(ALL_TOPICS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def windows_of_m() -> dict[str, list[int]]:
    """Starts of the windows that contain minute M, per scheme, from their definitions."""
    five = [M - k * MINUTE for k in range(5)]
    sixty_step = 5 * MINUTE
    last = M - M % sixty_step
    sixty = [last - k * sixty_step for k in range(12)]
    return {"1m": [M], "5m": sorted(five), "60m": sorted(sixty)}


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil(p/100 * n) in integers
    return ordered[rank - 1]


# --- the published set -------------------------------------------------------------------

class Published:
    """The synthetic events, and the figures they must produce, written down side by side."""

    def __init__(self) -> None:
        self.videos: dict[str, list[str]] = {TENANT_A: [], TENANT_B: []}
        self.uploads: list[VideoUploaded] = []
        self.later: list[tuple[Topic, Record]] = []
        sizes = {TENANT_A: [1_000, 2_000, 3_000, 4_000, 5_000, 6_000],
                 TENANT_B: [10_000, 20_000, 30_000, 40_000]}
        uploaded_at: dict[str, int] = {}
        for tenant, tenant_sizes in sizes.items():
            for n, size in enumerate(tenant_sizes):
                video_id = str(uuid.uuid4())
                self.videos[tenant].append(video_id)
                uploaded_at[video_id] = M + 1_000 + n
                self.uploads.append(upload(video_id, uploaded_at[video_id], size, tenant))
        a, b = self.videos[TENANT_A], self.videos[TENANT_B]
        # A: four ready (one without latency_ms: it is measured from the upload), one failed
        # in transcode, one cancelled. B: two ready, one failed in each stage.
        self._ready(a[0], 1_200, 500_000)
        self._ready(a[1], 3_400, 600_000)
        self._ready(a[2], 150_000, 700_000)
        self._ready(a[3], None, 800_000, when=uploaded_at[a[3]] + 40_000)
        self._failed(TRANSCODE_FAILED, a[4], "undecodable_source")
        self.later.append((VIDEO_CANCELLED, cancel(a[5], M + 50_000)))
        self._ready(b[0], 800, 900_000)
        self._ready(b[1], 99_999, 1_000_000)
        self._failed(PACKAGING_FAILED, b[2], "packaging_error")
        self._failed(TRANSCODE_FAILED, b[3], "undecodable_source")
        for video_id in (a[0], a[0], b[0]):
            self.later.append((RENDITION_DONE, RenditionDone(
                event_id=new_event_id(), video_id=video_id, occurred_at=at(M + 20_000),
                rendition="360p", media_type=MediaType.VIDEO, expected_renditions=("360p",),
                uri=f"s3://reelflow/{video_id}/360p.mp4")))
        for code in ("not_avro", "not_avro", "corrupt_record"):
            self.later.append((DEAD_LETTER, DeadLetter(
                event_id=new_event_id(), occurred_at=at(M + 30_000),
                original_topic=VIDEO_UPLOADED.name, original_partition=0, original_offset=0,
                consumer_group="catalog", error_code=code, error_class="Test",
                error_message="synthetic")))

    def _ready(self, video_id: str, latency: int | None, total_bytes: int,
               when: int | None = None) -> None:
        self.later.append((VIDEO_TRANSCODED, VideoTranscoded(
            event_id=new_event_id(), video_id=video_id, occurred_at=at(when or M + 45_000),
            package_uri=f"s3://reelflow/{video_id}/p/",
            hls_master_uri=f"s3://reelflow/{video_id}/p/master.m3u8",
            total_bytes=total_bytes, latency_ms=latency)))

    def _failed(self, topic: Topic, video_id: str, code: str) -> None:
        self.later.append((topic, StageFailed(
            event_id=new_event_id(), video_id=video_id, occurred_at=at(M + 40_000),
            stage=topic.name.split("-")[0], error_code=code,
            error_message="synthetic failure")))


def upload(video_id: str, when: int, size: int, tenant: str) -> VideoUploaded:
    return VideoUploaded(event_id=new_event_id(), video_id=video_id, occurred_at=at(when),
                         source_uri=f"s3://reelflow/{video_id}", source_size_bytes=size,
                         owner=tenant)


def cancel(video_id: str, when: int) -> VideoCancelled:
    return VideoCancelled(event_id=new_event_id(), video_id=video_id, occurred_at=at(when),
                          reason="test")


EXPECTED = {
    TENANT_A: {"accepted": 6, "ready": 4, "failed": {"undecodable_source": 1},
               "failed_total": 1, "cancelled": 1, "renditions": 2, "failure_rate": 1 / 5,
               "bytes_in": 21_000, "bytes_out": 2_600_000, "dead_letters": {},
               "latencies": [1_200, 3_400, 150_000, 40_000]},
    TENANT_B: {"accepted": 4, "ready": 2,
               "failed": {"packaging_error": 1, "undecodable_source": 1},
               "failed_total": 2, "cancelled": 0, "renditions": 1, "failure_rate": 2 / 4,
               "bytes_in": 100_000, "bytes_out": 1_900_000, "dead_letters": {},
               "latencies": [800, 99_999]},
}
EXPECTED_OVERALL = {
    "accepted": 10, "ready": 6, "failed": {"packaging_error": 1, "undecodable_source": 2},
    "failed_total": 3, "cancelled": 1, "renditions": 3, "failure_rate": 3 / 9,
    "bytes_in": 121_000, "bytes_out": 4_500_000,
    "dead_letters": {"corrupt_record": 1, "not_avro": 2},
    "latencies": [1_200, 3_400, 150_000, 40_000, 800, 99_999],
}


def assert_figures(got: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    latencies = expected["latencies"]
    plain = {k: v for k, v in expected.items() if k != "latencies"}
    plain["playable_count"] = len(latencies)
    assert {k: got[k] for k in plain} == plain, where
    for field, percent in (("playable_p50_ms", 50), ("playable_p95_ms", 95)):
        exact = nearest_rank(latencies, percent)
        assert abs(got[field] - exact) <= exact / 64, (where, field, got[field], exact)


# --- talking to Kafka and to the process ---------------------------------------------------

async def _publish(events: list[tuple[Topic, Record]], raw: bytes | None = None) -> None:
    producer = EventProducer(os.environ["REELFLOW_KAFKA_BOOTSTRAP"], codec, f"figures-it-{RUN}")
    await producer.start()
    try:
        for topic, event in events:
            await producer.publish(topic, event)
    finally:
        await producer.stop()
    if raw is not None:  # a record no codec can read, as a foreign producer might write
        plain = AIOKafkaProducer(**client_options(),
                                 bootstrap_servers=os.environ["REELFLOW_KAFKA_BOOTSTRAP"])
        await plain.start()
        try:
            await plain.send_and_wait(VIDEO_UPLOADED.name, raw)
        finally:
            await plain.stop()


def publish(events: list[tuple[Topic, Record]], raw: bytes | None = None) -> None:
    asyncio.run(_publish(events, raw))


async def _uncommitted() -> dict[tuple[str, int], int]:
    """Records of the source topics that the figures group has not committed yet."""
    bootstrap = os.environ["REELFLOW_KAFKA_BOOTSTRAP"]
    parts = [TopicPartition(t.name, p) for t in SOURCES for p in range(t.partitions)]
    consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka 0.14, group-less stop
            await consumer.stop()
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(GROUP)
    finally:
        await admin.close()
    done = {(tp.topic, tp.partition): m.offset for tp, m in committed.items()}
    return {(tp.topic, tp.partition): end - max(done.get((tp.topic, tp.partition), 0), 0)
            for tp, end in ends.items() if end - max(done.get((tp.topic, tp.partition), 0), 0)}


def uncommitted() -> dict[tuple[str, int], int]:
    return asyncio.run(_uncommitted())


def wait_all_committed() -> None:
    deadline = time.monotonic() + WAIT_S
    while (left := uncommitted()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"the figures group never committed: {left}"


def figures_json() -> dict[str, Any]:
    return httpx.get(f"{FIGURES}/figures", timeout=5).json()


def windows_snapshot() -> dict[str, dict[int, Any]]:
    """The windows of M as the app serves them, by scheme and start."""
    served = figures_json()["windows"]
    wanted = windows_of_m()
    return {scheme: {w["start"]: w for w in served[scheme] if w["start"] in starts}
            for scheme, starts in wanted.items()}


def wait_for(predicate: Any, what: str) -> dict[str, dict[int, Any]]:
    deadline = time.monotonic() + WAIT_S
    snapshot: dict[str, dict[int, Any]] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            snapshot = windows_snapshot()
            if predicate(snapshot):
                return snapshot
        time.sleep(0.5)
    raise AssertionError(f"the figures never showed {what}; last: {snapshot}")


def tenant_in_all(snapshot: dict[str, dict[int, Any]], tenant: str, field: str,
                  value: Any) -> bool:
    return all(len(snapshot[s]) == len(starts)
               and all(w["tenants"].get(tenant, {}).get(field) == value
                       for w in snapshot[s].values())
               for s, starts in windows_of_m().items())


class FiguresProcess:
    """`reelflow figures` as the stack runs it, with environment overrides per start."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.service: Service | None = None

    def start(self, **env: str) -> None:
        self.service = Service("figures", self.stack.settings, "REELFLOW_FIGURES_PORT", 8004,
                               env=env)
        self.service.start()
        deadline = time.monotonic() + WAIT_S
        while not self.service.healthy():
            assert self.service.process.pid is not None, "figures exited during start"
            assert time.monotonic() < deadline, "figures not healthy in time"
            time.sleep(0.3)

    def kill(self) -> None:
        assert self.service is not None and self.service.process.pid is not None
        pid = self.service.process.pid
        self.service.process.signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.service.process.pid == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.service.process.pid is None, "SIGKILL did not end the figures process"

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


@pytest.fixture(scope="module")
def figures(local_stack: Any, common_settings: Any) -> Iterator[FiguresProcess]:
    # When the session's `pipeline` runs the stack's services, they make way: transcode and
    # packager would act on the synthetic events (and write failures of their own), the
    # catalog and ingest would dead-letter the undecodable record, and the stack's own
    # figures process shares this one's port, group and pid file. They are back afterwards.
    with services_paused(local_stack, common_settings, also=("catalog", "ingest", "figures")):
        process = FiguresProcess(local_stack)
        process.start()
        try:
            yield process
        finally:
            process.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1:].rsplit("} ", 1)
        found = dict(part.split("=", 1) for part in label_text.split(","))
        if {k: v.strip('"') for k, v in found.items()} == labels:
            return float(value)
    return None


# --- the test ----------------------------------------------------------------------------

def test_figures_count_what_was_published_and_survive_sigkill_without_double_counting(
        figures: FiguresProcess) -> None:
    published = Published()
    # Uploads first: they name each video's tenant, which the later events are counted under.
    publish([(VIDEO_UPLOADED, e) for e in published.uploads], raw=b"\x00not an event")
    wait_for(lambda s: tenant_in_all(s, TENANT_A, "accepted", 6)
             and tenant_in_all(s, TENANT_B, "accepted", 4), "the uploads")
    publish(published.later)
    first = wait_for(lambda s: tenant_in_all(s, TENANT_A, "ready", 4)
                     and tenant_in_all(s, TENANT_B, "ready", 2)
                     and tenant_in_all(s, TENANT_A, "cancelled", 1)
                     and all(w["overall"]["dead_letters"] == EXPECTED_OVERALL["dead_letters"]
                             for w in first_and_five(s)), "the later events")

    # Every window of M, per tenant; overall in the 1- and 5-minute windows (the 60-minute
    # ones reach into the time other tests' events may have landed in).
    wait_all_committed()  # also proves nothing more was still to be counted
    first = windows_snapshot()
    for scheme, by_start in first.items():
        for start, window in by_start.items():
            for tenant, expected in EXPECTED.items():
                assert_figures(window["tenants"][tenant], expected, f"{scheme}@{start} {tenant}")
            if scheme != "60m":
                assert_figures(window["overall"], EXPECTED_OVERALL, f"{scheme}@{start}")
    metrics = httpx.get(f"{FIGURES}/metrics", timeout=5).text
    assert metric(metrics, "reelflow_figures_undecodable_records_total",
                  topic=VIDEO_UPLOADED.name, code="not_avro") == 1.0

    # SIGKILL with everything committed: what the restarted app serves at once can only come
    # from the changelog topics, and it is the same, value for value.
    figures.kill()
    # The next process commits only at its end, so its own work is uncommitted at the kill.
    figures.start(REELFLOW_FIGURES_COMMIT_INTERVAL_S="3600")
    assert windows_snapshot() == first

    # Marker 1: one more upload for tenant A in minute M.
    marker = str(uuid.uuid4())
    publish([(VIDEO_UPLOADED, upload(marker, M + 55_000, 7, TENANT_A))])
    after_marker = wait_for(lambda s: tenant_in_all(s, TENANT_A, "accepted", 7), "marker 1")
    expected = copy.deepcopy(first)
    for by_start in expected.values():
        for window in by_start.values():
            for part in (window["tenants"][TENANT_A], window["overall"]):
                part["accepted"] += 1
                part["bytes_in"] += 7
    assert after_marker == expected

    # SIGKILL while marker 1 is counted (in the changelog) but not committed: the restarted
    # app reads it again and must not count it twice.
    left = uncommitted()
    assert left == {(VIDEO_UPLOADED.name, partition_of(marker)): 1}, left
    figures.kill()
    figures.start()
    # Marker 2: a cancellation for a tenant-B video, now: seen in the current gauges under B
    # (the owners table came back too), and outside every window of M.
    cancel_at = int(time.time() * 1000)
    publish([(VIDEO_CANCELLED, cancel(published.videos[TENANT_B][0], cancel_at))])
    wait_all_committed()  # marker 1, read again, and marker 2 are both processed
    assert windows_snapshot() == expected
    metrics = httpx.get(f"{FIGURES}/metrics", timeout=5).text
    assert metric(metrics, "reelflow_figures_videos_cancelled", window="5m",
                  tenant=TENANT_B) == 1.0


def test_the_changelogs_are_the_registrys_and_faust_made_no_topic_of_its_own(
        figures: FiguresProcess) -> None:
    async def described() -> tuple[set[str], dict[str, dict[str, str]], dict[str, int]]:
        admin = AIOKafkaAdminClient(**client_options(),
                                    bootstrap_servers=os.environ["REELFLOW_KAFKA_BOOTSTRAP"])
        await admin.start()
        try:
            names = set(await admin.list_topics())
            answers = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in CHANGELOG_TOPICS])
            configs = {r["resource_name"]: {c["config_names"]: c["config_value"]
                                            for c in r["config_entries"]}
                       for answer in answers for r in answer.to_object()["resources"]}
            topics = await admin.describe_topics([t.name for t in CHANGELOG_TOPICS])
            partitions = {d["topic"]: len(d["partitions"]) for d in topics}
        finally:
            await admin.close()
        return names, configs, partitions

    names, configs, partitions = asyncio.run(described())
    # faust names what it creates after the app id (`figures-__assignor-__leader`,
    # `figures-<table>-changelog`); other tests may add topics of their own.
    assert {n for n in names if n.startswith(GROUP)} == {t.name for t in CHANGELOG_TOPICS}
    assert {t.name for t in STACK_TOPICS} <= names
    for topic in CHANGELOG_TOPICS:
        assert configs[topic.name]["cleanup.policy"] == "compact", topic.name
        assert partitions[topic.name] == topic.partitions, topic.name


def test_expired_windows_are_deleted_from_the_table_and_its_changelog(
        figures: FiguresProcess) -> None:
    """A window 200 minutes old (kept 2 h after its end) sits in the windows changelog; the
    next record of its partition makes the app delete it: a tombstone follows it there."""
    bootstrap = os.environ["REELFLOW_KAFKA_BOOTSTRAP"]
    video = str(uuid.uuid4())
    partition = partition_of(video)
    old = (int(time.time() * 1000) // MINUTE - 200) * MINUTE
    key = json.dumps(f"1m|{old}|{partition}|sweep-{RUN}").encode()

    async def plant() -> None:
        producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(FIGURES_WINDOWS.name, json.dumps({"accepted": 1})
                                         .encode(), key=key, partition=partition)
        finally:
            await producer.stop()

    async def last_value() -> tuple[bool, bytes | None]:
        """(seen, value of the key's latest record) in the changelog partition."""
        consumer = AIOKafkaConsumer(**client_options(),
                                    bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(FIGURES_WINDOWS.name, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            seen, value = False, None
            while await consumer.position(tp) < end:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if record.key == key:
                        seen, value = True, record.value
            return seen, value
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    asyncio.run(plant())
    figures.kill()  # the restarted app recovers the planted window, and sweeps at once
    figures.start(REELFLOW_FIGURES_SWEEP_INTERVAL_S="0")
    now = int(time.time() * 1000)
    publish([(VIDEO_UPLOADED, upload(video, now, 1, f"sweep-{RUN}")),
             (VIDEO_CANCELLED, cancel(video, now))])
    deadline = time.monotonic() + WAIT_S
    while (found := asyncio.run(last_value())) != (True, None):
        assert found[0], "the planted window is not in the changelog"
        assert time.monotonic() < deadline, "the expired window was never deleted"
        time.sleep(0.5)
    # The app kept going: both records are counted.
    wait_all_committed()
    metrics = httpx.get(f"{FIGURES}/metrics", timeout=5).text
    for name in ("reelflow_figures_videos_accepted", "reelflow_figures_videos_cancelled"):
        assert metric(metrics, name, window="5m", tenant=f"sweep-{RUN}") == 1.0, name


def first_and_five(snapshot: dict[str, dict[int, Any]]) -> list[Any]:
    return [*snapshot["1m"].values(), *snapshot["5m"].values()]


def partition_of(video_id: str) -> int:
    from aiokafka.partitioner import DefaultPartitioner

    return int(DefaultPartitioner()(video_id.encode(), list(range(VIDEO_UPLOADED.partitions)),
                                    list(range(VIDEO_UPLOADED.partitions))))
