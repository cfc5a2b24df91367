"""The catalog against real Kafka, Postgres and S3: realistic event sequences go in through
the topics, the projector (in this process, on its own thread and asyncio loop) applies
them, and every assertion goes through the HTTP API, as a client would see it.

Isolation from whatever else the session runs: a consumer group and a Postgres schema of
this module's own (`search_path` in the DSN), and a tag unique to this run on every video.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client import REGISTRY
from psycopg.conninfo import make_conninfo

from schemas import (
    ALL_TOPICS,
    PIPELINE_TOPICS,
    TRANSCODE_PROGRESS,
    VIDEO_UPLOADED,
    topic_by_name,
)
from services.catalog.main import run
from services.catalog.settings import CatalogSettings
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings
from tests.access import admin_headers
from tests.integration.quiet import services_paused
from tests.ports import free_port
from tests.unit.catalog.stories import Step, VideoStory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

codec = EventCodec(ALL_TOPICS)
RUN = uuid.uuid4().hex[:10]
TAG = f"catalog-it-{RUN}"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
GARBAGE = b"\x00\x01 definitely not avro \xff"


class PortTaken(Exception):
    pass


class CatalogThread:
    """`services.catalog.main.run` on its own thread and event loop, stoppable."""

    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self.base = f"http://{settings.host}:{settings.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for _ in range(3):
            try:
                return self._start()
            except PortTaken:
                # free_port() released the port before uvicorn bound it; another process
                # on this machine got there first. Any free port will do.
                self.settings = self.settings.model_copy(update={"port": free_port()})
                self.base = f"http://{self.settings.host}:{self.settings.port}"
        raise AssertionError("no free port for the catalog after 3 tries")

    def _start(self) -> None:
        self._error = None
        started = threading.Event()

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            started.set()
            await run(self.settings, "all", self._stop)

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # surfaced by stop() and by the health wait
                self._error = exc

        self._thread = threading.Thread(target=target, name="catalog", daemon=True)
        self._thread.start()
        started.wait(10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if isinstance(self._error, SystemExit):  # uvicorn exits when it cannot bind
                raise PortTaken(self.base)
            if self._error is not None:
                raise RuntimeError("catalog failed to start") from self._error
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"catalog never became healthy at {self.base}")

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        assert not self._thread.is_alive(), "catalog did not stop within 30 s"
        if self._error is not None:
            raise self._error


async def _produce(bootstrap: str, steps: list[Step],
                   raw: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        for topic, event in steps:
            await producer.send_and_wait(topic, codec.encode(topic_by_name(topic), event),
                                         key=event.video_id.encode())
        for topic, key, value in raw:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def publish(settings: CommonSettings, steps: list[Step],
            raw: list[tuple[str, bytes, bytes]] | None = None) -> None:
    asyncio.run(_produce(settings.kafka_bootstrap, steps, raw or []))


async def pipeline_log_ends(bootstrap: str) -> dict[tuple[str, int], int]:
    """Log-end offset of every partition the catalog projects (shared with the crash test)."""
    consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in PIPELINE_TOPICS for p in range(t.partitions)]
        return {(tp.topic, tp.partition): o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        # aiokafka #647: stopping a group-less consumer soon after start can raise a stray
        # CancelledError from its internal offset-reset task; the consumer is closed anyway.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@dataclass
class World:
    common: CommonSettings
    settings: CatalogSettings
    catalog: CatalogThread
    videos: dict[str, VideoStory]
    expected_status: dict[str, str]
    distinct_events: dict[str, int] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.catalog.base

    def get(self, path: str, **params: Any) -> Any:
        reply = httpx.get(f"{self.api}{path}", params=params, timeout=10,
                          headers=admin_headers())
        assert reply.status_code == 200, reply.text
        return reply.json()

    def ours(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("/api/v1/videos", tag=TAG, limit=100, **params)["items"]

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        with psycopg.connect(self.common.pg_dsn) as conn:
            rows = conn.execute('SELECT topic, "partition", next_offset FROM consumer_offsets'
                                " WHERE group_id = %s", (self.settings.group_id,)).fetchall()
        return {(t, p): o for t, p, o in rows}

    def wait_caught_up(self, timeout: float = 90) -> None:
        """Until the offsets stored in Postgres reach the log ends seen now: a status can
        converge before all of a video's events are in, since order does not matter."""
        ends = asyncio.run(pipeline_log_ends(self.common.kafka_bootstrap))
        deadline = time.monotonic() + timeout
        while True:
            stored = self.stored_offsets()
            behind = {k: (stored.get(k, 0), end) for k, end in ends.items()
                      if stored.get(k, 0) < end}
            if not behind:
                return
            assert time.monotonic() < deadline, f"projector behind: {behind}"
            time.sleep(0.2)

    def wait_for(self, expected: dict[str, str], timeout: float = 45) -> None:
        deadline, seen = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            seen = {v["video_id"]: v["status"] for v in self.ours()}
            wanted = {self.videos[name].video_id: s for name, s in expected.items()}
            if all(seen.get(vid) == status for vid, status in wanted.items()):
                return
            time.sleep(0.3)
        raise AssertionError(f"statuses never converged: want {expected}, have {seen}")


def _metadata(title: str, description: str, category: str, extra_tag: str) -> str:
    return json.dumps({"title": title, "description": description, "category": category,
                       "tags": [TAG, extra_tag], "run": RUN})


def _phase_one(bucket: str) -> tuple[dict[str, VideoStory], list[Step], dict[str, int]]:
    def story(minutes: int) -> VideoStory:
        return VideoStory(t0=T0 + timedelta(minutes=minutes), bucket=bucket)

    a, b, c, d, e = story(0), story(1), story(2), story(3), story(4)
    d2 = VideoStory(d.video_id, attempt=2, t0=d.t0, bucket=bucket)
    steps_a = [a.uploaded(0, metadata_json=_metadata(
        "Sunset over the bay", "Timelapse from the pier", "travel", "nature")),
        *a.happy_path()[1:]]
    steps_b = [b.uploaded(0, priority=3, metadata_json=_metadata(
        "Broken upload", "A file that will not decode", "test", "broken")),
        b.progress("verify", 100, 1), b.progress("encode", float("nan"), 1.5), b.failed(2)]
    steps_c = [c.uploaded(0, priority=7, metadata_json=_metadata(
        "Cancelled draft", "Nobody wants this", "test", "draft")),
        c.progress("encode", 20, 2), c.cancelled(3)]
    steps_d = [d.uploaded(0, priority=9, metadata_json=_metadata(
        "Harbour timelapse", "Boats", "travel", "nature")), *d.happy_path()[1:],
        d2.uploaded(120, priority=9, metadata_json=_metadata(
            "Harbour timelapse recut", "Boats, regraded", "travel", "nature")),
        d2.progress("encode", 10, 125)]
    steps_e = [e.uploaded(0, priority=1, metadata_json=_metadata(
        "Mountain sunrise", "Alpine morning", "nature", "mountain")),
        e.reprioritised(0.5, 6, previous=1), *e.happy_path()[1:]]
    # G cannot be stored (Postgres text holds no NUL): dead-lettered, alone.
    g = story(5)
    steps_g = [g.uploaded(0, source_filename="bad\x00name.mp4", metadata_json=_metadata(
        "Poison", "NUL in the file name", "test", "poison"))]
    # E arrives backwards: its video-transcoded first, its video-uploaded last.
    steps = steps_a + steps_b + steps_g + steps_c + steps_d + list(reversed(steps_e))
    steps.append(steps_a[6])  # a repeat of A's 360p rendition-done (same event_id)
    counts = {"a": len(steps_a) + 1, "b": len(steps_b), "c": len(steps_c), "d": len(steps_d),
              "e": len(steps_e)}  # A: +1 for the dead letter of its garbage record
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "g": g}, steps, counts


def _ensure_bucket(common: CommonSettings) -> Any:
    s3 = boto3.client("s3", endpoint_url=common.s3_endpoint,
                      aws_access_key_id=common.s3_access_key,
                      aws_secret_access_key=common.s3_secret_key, region_name=common.s3_region,
                      config=Config(s3={"addressing_style": "path"}))
    try:
        s3.create_bucket(Bucket=common.s3_bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return s3


@pytest.fixture(scope="module")
def world(local_stack: Any, common_settings: CommonSettings) -> Iterator[World]:
    with services_paused(local_stack, common_settings, also=("catalog", "ingest", "webhooks")):
        yield from _world(common_settings)


def _world(common_settings: CommonSettings) -> Iterator[World]:
    schema = f"catalog_it_{RUN}"
    with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    common = common_settings.model_copy(update={
        "pg_dsn": make_conninfo(common_settings.pg_dsn, options=f"-c search_path={schema}")})
    settings = CatalogSettings(port=free_port(), group_id=f"catalog-it-{RUN}",
                               batch_max_wait_ms=100, common=common)
    videos, steps, counts = _phase_one(common.s3_bucket)
    publish(common, steps, raw=[(TRANSCODE_PROGRESS.name, videos["a"].video_id.encode(),
                                 GARBAGE)])
    catalog = CatalogThread(settings)
    catalog.start()
    world = World(common, settings, catalog, videos,
                  {"a": "ready", "b": "failed", "c": "cancelled", "d": "transcoding",
                   "e": "ready"}, counts)
    try:
        world.wait_for(world.expected_status)
        world.wait_caught_up()
        yield world
    finally:
        world.catalog.stop()
        with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def test_each_video_ends_in_the_status_its_events_tell(world: World) -> None:
    by_id = {v["video_id"]: v for v in world.ours()}
    assert len(by_id) == 5
    for name, status in world.expected_status.items():
        assert by_id[world.videos[name].video_id]["status"] == status, name
    d = by_id[world.videos["d"].video_id]
    assert d["attempt"] == 2 and d["playable"], "a reprocess keeps the old package playable"
    assert d["title"] == "Harbour timelapse recut"


def test_a_ready_video_has_renditions_with_quality_a_package_and_playback_urls(
        world: World) -> None:
    a = world.videos["a"]
    video = world.get(f"/api/v1/videos/{a.video_id}")
    assert video["states"]["uploaded"] and video["states"]["transcoding"]
    assert video["states"]["packaging"] and video["states"]["ready"]
    assert video["latency_ms"] == 15_000 and video["processing_seconds"] == 15.0
    assert video["user_metadata"]["category"] == "travel"
    assert video["source"]["info"]["video"]["width"] == 1920
    names = {r["rendition"]: r for r in video["renditions"]}
    assert set(names) == {"360p", "720p", "mp3", "thumbnails"}
    assert names["720p"]["quality"]["vmaf"] == pytest.approx(92.0)
    assert (names["720p"]["width"], names["720p"]["height"]) == (1280, 720)
    assert video["package"]["attempt"] == 1 and video["package"]["current"]
    playback = video["playback"]
    assert playback["hls"] == f"/media/packages/{a.video_id}/1/master.m3u8"
    assert playback["dash"] == f"/media/packages/{a.video_id}/1/manifest.mpd"
    assert playback["mp3"] == f"/media/renditions/{a.video_id}/1/audio.mp3"
    assert {m["rendition"] for m in playback["mp4"]} == {"360p", "720p"}
    assert playback["thumbnail"].endswith("/thumbnails/thumb_00.jpg")
    assert len(playback["thumbnails"]) == 4 and playback["storyboard"].endswith(".vtt")

    failed = world.get(f"/api/v1/videos/{world.videos['b'].video_id}")
    assert failed["error"] == {"stage": "transcode", "code": "undecodable_source",
                               "message": "ffmpeg could not decode frame 12"}
    cancelled = world.get(f"/api/v1/videos/{world.videos['c'].video_id}")
    assert cancelled["cancellation"]["reason"] == "uploaded by mistake"
    reprocessed = world.get(f"/api/v1/videos/{world.videos['d'].video_id}")
    assert reprocessed["package"]["attempt"] == 1 and reprocessed["renditions_attempt"] == 1
    assert reprocessed["attempts"] == [1, 2] and reprocessed["states"]["ready"] is None
    assert httpx.get(f"{world.api}/api/v1/videos/{uuid.uuid4()}",
                     headers=admin_headers()).status_code == 404


def test_the_timeline_has_one_entry_per_distinct_event_in_time_order(world: World) -> None:
    a = world.videos["a"]
    events = world.get(f"/api/v1/videos/{a.video_id}/events")["events"]
    assert len(events) == world.distinct_events["a"], "; ".join(
        f"{e['kind']} ({e['topic']}): {e.get('detail')}" for e in events)
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "uploaded" and "dead-lettered" in kinds and "transcoded" in kinds
    e = world.videos["e"]
    entries = world.get(f"/api/v1/videos/{e.video_id}/events")["events"]
    assert [x["kind"] for x in entries][:2] == ["uploaded", "reprioritised"]
    assert entries[1]["summary"] == "attempt 1 reprioritised to 6 (was 1) by alice"
    assert world.get(f"/api/v1/videos/{e.video_id}")["priority"] == 6
    page = world.get(f"/api/v1/videos/{a.video_id}/events", limit=4)
    rest = world.get(f"/api/v1/videos/{a.video_id}/events", limit=100,
                     cursor=page["next_cursor"])
    assert [e["event_id"] for e in page["events"] + rest["events"]] == [
        e["event_id"] for e in events]


def test_filters_search_sorting_and_cursor_pagination(world: World) -> None:
    ids = {name: story.video_id for name, story in world.videos.items()}

    def names(items: list[dict[str, Any]]) -> list[str]:
        back = {vid: name for name, vid in ids.items()}
        return [back[i["video_id"]] for i in items]

    assert sorted(names(world.ours(status="ready"))) == ["a", "e"]
    assert sorted(names(world.ours(status="failed,cancelled"))) == ["b", "c"]
    assert sorted(names(world.ours(**{"meta.category": "travel"}))) == ["a", "d"]
    assert names(world.get("/api/v1/videos", tag=[TAG, "mountain"])["items"]) == ["e"]
    assert sorted(names(world.ours(q="timelapse"))) == ["a", "d"]
    assert names(world.ours(created_from=(T0 + timedelta(minutes=3)).isoformat(),
                            order="asc")) == ["d", "e"]
    # E was uploaded at 1 and reprioritised to 6 before it started (read after its package).
    assert names(world.ours(sort="priority")) == ["d", "c", "e", "a", "b"]
    assert names(world.ours(sort="completed_at", order="asc")) == ["a", "b", "c", "e", "d"]
    assert names(world.ours(sort="completed_at", order="desc")) == ["e", "c", "b", "a", "d"]

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"tag": TAG, "limit": 2, "sort": "created_at", "order": "asc"}
        if cursor:
            params["cursor"] = cursor
        page = world.get("/api/v1/videos", **params)
        pages.append(names(page["items"]))
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    wrong = httpx.get(f"{world.api}/api/v1/videos",
                      params={"tag": TAG, "limit": 2, "sort": "priority", "cursor": cursor
                              or world.get("/api/v1/videos", tag=TAG, limit=1)["next_cursor"]},
                      headers=admin_headers())
    assert wrong.status_code == 400 and wrong.json()["error"] == "bad_cursor"
    assert httpx.get(f"{world.api}/api/v1/videos", params={"status": "done"},
                     headers=admin_headers()).status_code == 422


def test_a_listed_video_is_the_summary_its_detail_starts_with(world: World) -> None:
    # The listing shapes its columns in SQL (queries.LISTED_COLUMNS); the detail folds the
    # whole row through views.video_summary. Both must say the same of every video.
    listed = world.ours()
    assert {world.videos[n].video_id for n in "abcde"} <= {i["video_id"] for i in listed}
    for item in listed:
        detail = world.get(f"/api/v1/videos/{item['video_id']}")
        assert list(detail)[:len(item) - 1] == [k for k in item if k != "queue"]
        assert {k: detail[k] for k in item if k != "links"} == {
            k: v for k, v in item.items() if k != "links"}
        assert item["links"]["self"] == detail["links"]["self"]


def test_stats_count_statuses_bytes_times_and_throughput(world: World) -> None:
    stats = world.get("/api/v1/stats")
    for status, least in (("ready", 2), ("failed", 1), ("cancelled", 1), ("transcoding", 1)):
        assert stats["by_status"][status] >= least
    assert stats["total_videos"] >= 5 and stats["input_bytes"] >= 5 * 12_000_000
    assert stats["output_bytes"] >= 3 * 9_000_000
    assert stats["processing_seconds"]["avg"] is not None
    assert stats["processing_seconds"]["p95"] >= 15.0
    assert stats["throughput"]["ready_last_hour"] >= 2
    assert stats["dead_letters"] >= 1


def test_an_undecodable_record_is_dead_lettered_and_listed(world: World) -> None:
    listing = world.get("/api/v1/dead-letters", consumer_group=world.settings.group_id,
                        video_id=world.videos["a"].video_id)
    (item,) = listing["items"]
    assert item["original_topic"] == TRANSCODE_PROGRESS.name and item["error_code"] == "not_avro"
    assert item["video_id"] == world.videos["a"].video_id
    detail = world.get(f"/api/v1/dead-letters/{item['id']}")
    assert detail["original_value_base64"] and detail["stacktrace"]
    assert base64.b64decode(detail["original_value_base64"]) == GARBAGE
    assert detail["original_key_text"] == world.videos["a"].video_id


def test_a_record_that_cannot_be_projected_is_dead_lettered_and_the_rest_applied(
        world: World) -> None:
    g = world.videos["g"].video_id
    assert httpx.get(f"{world.api}/api/v1/videos/{g}",
                     headers=admin_headers()).status_code == 404
    (item,) = world.get("/api/v1/dead-letters", consumer_group=world.settings.group_id,
                        video_id=g)["items"]
    assert item["error_code"] == "projection_failed"
    assert item["original_topic"] == VIDEO_UPLOADED.name
    assert "NUL" in item["error_message"] or "0x00" in item["error_message"], item
    b = world.get(f"/api/v1/videos/{world.videos['b'].video_id}")
    assert b["progress"] == {"verify": 100.0}, "a NaN percentage is ignored, not stored"


def test_media_streams_playback_objects_with_types_ranges_cors_and_caching(
        world: World) -> None:
    s3 = _ensure_bucket(world.common)
    a = world.videos["a"].video_id
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/playlist.m3u8\n"
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=world.common.s3_bucket, Key=f"packages/{a}/1/master.m3u8",
                  Body=master.encode(), ContentType="binary/octet-stream")
    s3.put_object(Bucket=world.common.s3_bucket, Key=f"packages/{a}/1/720p.mp4", Body=body)
    urls = world.get(f"/api/v1/videos/{a}")["playback"]

    reply = httpx.get(world.api + urls["hls"])
    assert reply.status_code == 200 and reply.text == master
    assert reply.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert reply.headers["cache-control"] == "public, max-age=60"
    assert reply.headers["access-control-allow-origin"] == "*"

    mp4 = next(m["url"] for m in urls["mp4"] if m["rendition"] == "720p")
    part = httpx.get(world.api + mp4, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert part.headers["content-type"] == "video/mp4"
    assert part.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(world.api + mp4).content == body
    assert httpx.head(world.api + mp4).headers["content-length"] == str(len(body))
    assert httpx.get(world.api + mp4, headers={"Range": "bytes=999999-"}).status_code == 416
    assert httpx.get(f"{world.api}/media/packages/{a}/1/missing.m4s").status_code == 404
    assert httpx.get(f"{world.api}/media/sources/{a}/original").status_code == 404


def test_health_and_metrics(world: World) -> None:
    health = world.get("/health")
    assert health["checks"]["postgres"] == "ok" and health["checks"]["kafka"] == "ok"
    text = httpx.get(f"{world.api}/metrics").text
    assert 'reelflow_catalog_videos{status="ready"}' in text
    assert "reelflow_catalog_projection_batch_seconds_bucket" in text
    assert 'route="/api/v1/videos/{video_id}"' in text


def test_a_restart_resumes_from_the_offsets_stored_in_postgres(world: World) -> None:
    """Stop, publish more, start again: each event is applied exactly once."""
    world.catalog.stop()
    applied_before = sum(metric("reelflow_catalog_events_applied_total", topic=t.name)
                         for t in PIPELINE_TOPICS)
    duplicates_before = metric("reelflow_catalog_events_skipped_total", reason="duplicate")
    stale_before = metric("reelflow_catalog_events_skipped_total",
                          reason="below_stored_offset")

    f = VideoStory(t0=T0 + timedelta(minutes=5), bucket=world.common.s3_bucket)
    c = world.videos["c"]
    steps = [f.uploaded(0, metadata_json=_metadata("After the restart", "F", "misc", "late")),
             *f.happy_path()[1:], c.progress("encode", 60, 30)]
    publish(world.common, steps)
    replayed = steps[3]
    publish(world.common, [replayed])  # the same event again: a duplicate, not applied twice
    world.videos["f"] = f
    world.catalog = CatalogThread(world.settings)
    world.catalog.start()
    world.wait_for({**world.expected_status, "f": "ready"})
    world.wait_caught_up()  # every partition's stored offset is at its log end again

    applied = sum(metric("reelflow_catalog_events_applied_total", topic=t.name)
                  for t in PIPELINE_TOPICS) - applied_before
    assert metric("reelflow_catalog_events_skipped_total", reason="duplicate") - (
        duplicates_before) == 1
    assert metric("reelflow_catalog_events_skipped_total", reason="below_stored_offset") == (
        stale_before)
    assert applied >= len(steps), "everything published while stopped was applied"
    assert applied < len(steps) + 20, "nothing from before the stop was applied again"

    world.distinct_events.update(f=len(steps) - 1, c=world.distinct_events["c"] + 1)
    for name, count in world.distinct_events.items():
        vid = world.videos[name].video_id
        assert len(world.get(f"/api/v1/videos/{vid}/events")["events"]) == count, name
    assert world.get(f"/api/v1/videos/{c.video_id}")["status"] == "cancelled"



def test_two_projectors_share_the_partitions_and_apply_each_event_once(world: World) -> None:
    """A second catalog joins the group (rebalance: revoke, seek to stored offsets), both
    project concurrently, then it leaves again; no event is lost or applied twice."""
    second = CatalogThread(world.settings.model_copy(update={"port": free_port()}))
    second.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            shares = [httpx.get(f"{c.base}/health").json()["checks"]["projector_partitions"]
                      for c in (world.catalog, second)]
            if all(shares) and sum(shares) == sum(t.partitions for t in PIPELINE_TOPICS):
                break
            assert time.monotonic() < deadline, f"partitions never shared: {shares}"
            time.sleep(0.3)
        stories = [VideoStory(t0=T0 + timedelta(minutes=6, seconds=i),
                              bucket=world.common.s3_bucket) for i in range(12)]
        steps = [step for i, story in enumerate(stories) for step in (
            story.uploaded(0, metadata_json=_metadata(f"Shared {i}", "", "misc", "shared")),
            *story.happy_path()[1:])]
        publish(world.common, steps)
        names = {f"s{i}": story for i, story in enumerate(stories)}
        world.videos.update(names)
        world.wait_for({**world.expected_status, **{n: "ready" for n in names}})
        world.wait_caught_up()
    finally:
        second.stop()
    late = VideoStory(t0=T0 + timedelta(minutes=7), bucket=world.common.s3_bucket)
    world.videos["late"] = late
    publish(world.common, [late.uploaded(0, metadata_json=_metadata("Late", "", "m", "x")),
                           *late.happy_path()[1:]])
    world.wait_for({"late": "ready"})
    world.wait_caught_up()
    for story in [*stories, late]:
        events = world.get(f"/api/v1/videos/{story.video_id}/events")["events"]
        assert len(events) == 9, story.video_id
        video = world.get(f"/api/v1/videos/{story.video_id}")
        assert video["status"] == "ready" and video["latency_ms"] == 15_000


def test_a_detail_that_did_not_change_is_a_304_and_one_that_did_gets_a_new_etag(
        world: World) -> None:
    """Pollers send the ETag back in If-None-Match: 304 with no body while the video's
    answer is the same, and a fresh 200 with another ETag once an event changed it."""
    story = VideoStory(t0=T0 + timedelta(minutes=8), bucket=world.common.s3_bucket)
    world.videos["etag"] = story
    publish(world.common, [story.uploaded(0, metadata_json=_metadata("Tagged", "", "m", "e"))])
    world.wait_for({"etag": "uploaded"})
    url = f"{world.api}/api/v1/videos/{story.video_id}"
    first = httpx.get(url, headers=admin_headers())
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    again = httpx.get(url, headers={**admin_headers(), "If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    weak = httpx.get(url, headers={**admin_headers(), "If-None-Match": f'"x", W/{tag}'})
    assert weak.status_code == 304
    other = httpx.get(url, headers={**admin_headers(), "If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.json() == first.json()

    publish(world.common, [story.progress("encode", 40, 5)])
    world.wait_for({"etag": "transcoding"})
    changed = httpx.get(url, headers={**admin_headers(), "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["status"] == "transcoding"
    assert changed.headers["etag"] != tag
