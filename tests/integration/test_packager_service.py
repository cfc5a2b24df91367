"""The packager as a running service on the real stack: `rendition-done` events published here
(for renditions really stored in S3), `video-transcoded` read back from Kafka, the package
from S3 and its state from the catalog.

What is proven: an open set survives a SIGKILL of the packager (its committed offset is held
at the set's first record, so the restarted process rebuilds the set from the log); repeats
of rendition events, and whole sets re-sent after packaging, package nothing again and emit
no second `video-transcoded`; a newer attempt gets its own versioned package that becomes
the catalog's current one only once it is complete.

"Nothing happened" is only observable after the packager has certainly read the records in
question, so every such check first waits on a *barrier*: a one-rendition set for a fresh
video published to the same partition afterwards. Partitions are read in order, so once the
barrier is packaged, everything before it was handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from schemas import ALL_TOPICS, RENDITION_DONE, VIDEO_TRANSCODED
from schemas.events import MediaType, RenditionDone, VideoTranscoded
from schemas.layout import PUBLISHED_MARKER, package_prefix
from services.packager.package import RenditionInput
from services.shared.codec import EventCodec
from services.shared.events import new_event_id, now
from services.shared.kafka_security import client_options
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore
from tests.access import admin_headers
from tests.integration.test_package import make_test_ladder
from tests.slot import CATALOG_URL

pytestmark = pytest.mark.integration

CATALOG = CATALOG_URL
codec = EventCodec(ALL_TOPICS)
# Short clips keep every packaging job to a few seconds; 8 s is still two 4 s segments.
CLIP_SECONDS = 8
LADDER = ((640, 360, "500k"), (1280, 720, "1200k"))
FULL_SET = ("360p", "720p", "audio")
PACKAGED_WITHIN_S = 120


@dataclass(frozen=True)
class StoredRendition:
    """A rendition file in S3 as the transcoder would leave it, and what its event says."""

    input: RenditionInput
    uri: str
    size_bytes: int
    sha256: str


@pytest.fixture(scope="module")
def ladder_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RenditionInput]:
    inputs = make_test_ladder(tmp_path_factory.mktemp("renditions"), seconds=CLIP_SECONDS,
                              ladder=LADDER)
    return {i.name: i for i in inputs}


class Renditions:
    """Uploads a video attempt's renditions and publishes their `rendition-done` events."""

    def __init__(self, files: dict[str, RenditionInput], store: ObjectStore,
                 bootstrap: str) -> None:
        self.files = files
        self.store = store
        self.bootstrap = bootstrap

    def upload(self, video_id: str, attempt: int,
               names: Iterable[str]) -> dict[str, StoredRendition]:
        stored = {}
        for name in names:
            source = self.files[name]
            ref = self.store.ref(f"renditions/{video_id}/{attempt}/{source.path.name}")
            kind = "audio/mp4" if source.media_type == "AUDIO" else "video/mp4"
            obj = self.store.put_file(source.path, ref, kind)
            stored[name] = StoredRendition(source, ref.uri, obj.size_bytes, obj.sha256)
        return stored

    def event(self, video_id: str, attempt: int, rendition: StoredRendition,
              expected: Iterable[str], event_id: str | None = None) -> RenditionDone:
        source = rendition.input
        video = source.media_type == "VIDEO"
        return RenditionDone(
            event_id=event_id or new_event_id(), video_id=video_id, occurred_at=now(),
            attempt=attempt, rendition=source.name, media_type=MediaType(source.media_type),
            expected_renditions=tuple(sorted(expected)), uri=rendition.uri,
            container="mp4" if video else "m4a", codecs=source.codecs,
            video_codec="h264" if video else None, audio_codec="aac",
            width=source.width, height=source.height, frame_rate=source.frame_rate,
            keyframe_interval_seconds=2.0 if video else None, bitrate=source.bitrate,
            size_bytes=rendition.size_bytes, sha256=rendition.sha256,
            duration_seconds=float(CLIP_SECONDS), encode_seconds=1.0,
            profile="default", quality=None, artifacts=(),
            source_size_bytes=None, source_filename="packager-test.mp4",
            user_metadata_json='{"title": "packager service test"}',
            uploaded_at=now(), traceparent=None,
        )

    def publish(self, events: list[RenditionDone]) -> None:
        async def send() -> None:
            producer = EventProducer(self.bootstrap, codec, "packager-service-test")
            await producer.start()
            try:
                for event in events:
                    await producer.publish(RENDITION_DONE, event)
            finally:
                await producer.stop()
        asyncio.run(send())

    def send(self, video_id: str, attempt: int, stored: dict[str, StoredRendition],
             names: Iterable[str], expected: Iterable[str]) -> None:
        expected = tuple(expected)
        self.publish([self.event(video_id, attempt, stored[n], expected) for n in names])


@pytest.fixture(scope="module")
def renditions(ladder_files, store, common_settings) -> Renditions:  # type: ignore[no-untyped-def]
    return Renditions(ladder_files, store, common_settings.kafka_bootstrap)


# -- reading the outcome back ---------------------------------------------------------------
def read_topic(bootstrap: str, video_id: str) -> list[VideoTranscoded]:
    """Every `video-transcoded` of `video_id` on the log, from the beginning to its end now."""

    async def read() -> list[VideoTranscoded]:
        consumer = AIOKafkaConsumer(**client_options(),
                                    bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    isolation_level="read_committed")
        await consumer.start()
        try:
            parts = [TopicPartition(VIDEO_TRANSCODED.name, p)
                     for p in range(VIDEO_TRANSCODED.partitions)]
            ends = await consumer.end_offsets(parts)
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            found = []
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        if record.key == video_id.encode():
                            found.append(codec.decode(VIDEO_TRANSCODED, record.value))
            return found
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()
    return asyncio.run(read())


def wait_transcoded(bootstrap: str, video_id: str, attempt: int,
                    timeout: float = PACKAGED_WITHIN_S) -> list[VideoTranscoded]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in read_topic(bootstrap, video_id) if e.attempt == attempt]
        if events:
            return events
        time.sleep(1)
    raise AssertionError(f"no video-transcoded for {video_id}/{attempt} in {timeout:.0f} s")


def video_on_partition(partition: int) -> str:
    """A fresh video id whose key the default partitioner puts on `partition`."""
    every = list(range(RENDITION_DONE.partitions))
    while True:
        candidate = str(uuid.uuid4())
        if DefaultPartitioner()(candidate.encode(), every, every) == partition:
            return candidate


def partition_of(video_id: str) -> int:
    every = list(range(RENDITION_DONE.partitions))
    return int(DefaultPartitioner()(video_id.encode(), every, every))


def barrier(renditions: Renditions, video_id: str) -> None:
    """Returns once the packager has handled every rendition-done of `video_id` sent so far."""
    fence = video_on_partition(partition_of(video_id))
    stored = renditions.upload(fence, 1, ["360p"])
    renditions.send(fence, 1, stored, ["360p"], expected=["360p"])
    wait_transcoded(renditions.bootstrap, fence, 1)


def catalog_video(video_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", timeout=10,
                      headers=admin_headers())
    return reply.json() if reply.status_code == 200 else {}


def wait_catalog(video_id: str, what: str, ok: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    video: dict[str, Any] = {}
    while time.monotonic() < deadline:
        video = catalog_video(video_id)
        if video and ok(video):
            return video
        time.sleep(0.5)
    raise AssertionError(f"catalog never showed {video_id} {what}; last seen: {video}")


def package_rows(video_id: str) -> list[tuple[int, bool]]:
    with psycopg.connect(os.environ["REELFLOW_PG_DSN"]) as db:
        return [(a, c) for a, c in db.execute(
            "SELECT attempt, current FROM packages WHERE video_id = %s ORDER BY attempt",
            (video_id,)).fetchall()]


def package_keys(store: ObjectStore, video_id: str, attempt: int) -> list[str]:
    return sorted(store.list_keys(package_prefix(video_id, attempt) + "/"))


def stop_and_restart_packager(stack: Any, kill: bool) -> None:
    """SIGKILL (nothing flushed, nothing committed on the way out) or a graceful restart."""
    if kill:
        stack.kill("packager")
        component = stack.component("packager")
        deadline = time.monotonic() + 10
        while component.process.pid is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert component.process.pid is None, "the packager survived SIGKILL"
        stack.up()  # starts whatever is not running: here, just the packager
    else:
        stack.restart("packager")


# -- the proofs -------------------------------------------------------------------------------
def test_an_open_set_survives_a_sigkill_of_the_packager(pipeline, renditions, store):
    bootstrap = renditions.bootstrap
    video = str(uuid.uuid4())
    stored = renditions.upload(video, 1, FULL_SET)
    renditions.send(video, 1, stored, ["360p", "audio"], expected=FULL_SET)
    # The barrier is packaged after our partial set was read: the set was open in memory, and
    # the committed offset can only have been held back by the commit floor.
    fence = video_on_partition(partition_of(video))
    fence_files = renditions.upload(fence, 1, ["360p"])
    renditions.send(fence, 1, fence_files, ["360p"], expected=["360p"])
    wait_transcoded(bootstrap, fence, 1)
    assert read_topic(bootstrap, video) == []

    stop_and_restart_packager(pipeline, kill=True)
    renditions.send(video, 1, stored, ["720p"], expected=FULL_SET)

    done = wait_transcoded(bootstrap, video, 1)
    assert len(done) == 1, done
    event = done[0]
    assert event.package_uri.endswith(f"/packages/{video}/1")
    assert {r.rendition for r in event.renditions} >= {"360p", "720p", "audio"}
    keys = package_keys(store, video, 1)
    assert f"packages/{video}/1/master.m3u8" in keys and f"packages/{video}/1/manifest.mpd" in keys
    assert f"packages/{video}/1/{PUBLISHED_MARKER}" in keys
    # The restarted packager re-read the fence's complete set too (it lies after the floor):
    # the `_published` marker, not memory, kept that from becoming a second package.
    assert len(read_topic(bootstrap, fence)) == 1

    shown = wait_catalog(video, "ready", lambda v: v["status"] == "ready")
    assert shown["package"]["attempt"] == 1 and shown["package"]["current"]
    assert package_rows(video) == [(1, True)]


def test_repeated_rendition_events_package_once(pipeline, renditions, store):
    bootstrap = renditions.bootstrap
    video = str(uuid.uuid4())
    expected = ("360p", "audio")
    stored = renditions.upload(video, 1, expected)
    first = renditions.event(video, 1, stored["360p"], expected)
    # The same rendition twice before the set is complete: once redelivered (same event id),
    # once re-announced by a retried transcode (new event id).
    renditions.publish([first, first, renditions.event(video, 1, stored["360p"], expected)])
    renditions.send(video, 1, stored, ["audio"], expected=expected)
    (packaged,) = wait_transcoded(bootstrap, video, 1)
    master = store.ref(f"{package_prefix(video, 1)}/master.m3u8")
    written = store.head(master)
    assert written is not None

    # The whole set again to the same process: its memory says the set is closed.
    renditions.send(video, 1, stored, expected, expected=expected)
    barrier(renditions, video)
    # And again to a fresh process, whose memory is empty: the marker says it is published.
    stop_and_restart_packager(pipeline, kill=False)
    renditions.send(video, 1, stored, expected, expected=expected)
    barrier(renditions, video)

    assert read_topic(bootstrap, video) == [packaged]
    again = store.head(master)
    assert again is not None and again["LastModified"] == written["LastModified"], \
        "the package was uploaded again"
    wait_catalog(video, "ready", lambda v: v["status"] == "ready")
    assert package_rows(video) == [(1, True)]


def test_a_new_attempt_gets_its_own_package_which_turns_current_when_complete(
        pipeline, renditions, store):
    bootstrap = renditions.bootstrap
    video = str(uuid.uuid4())
    first_set = ("360p", "audio")
    stored = renditions.upload(video, 1, first_set)
    renditions.send(video, 1, stored, first_set, expected=first_set)
    wait_transcoded(bootstrap, video, 1)
    wait_catalog(video, "ready on attempt 1",
                 lambda v: v["status"] == "ready" and (v["package"] or {}).get("attempt") == 1)

    # A reprocess: attempt 2 with a bigger ladder, delivered in part.
    again = renditions.upload(video, 2, FULL_SET)
    renditions.send(video, 2, again, ["360p", "audio"], expected=FULL_SET)
    barrier(renditions, video)
    assert package_keys(store, video, 2) == []
    during = wait_catalog(video, "on attempt 2", lambda v: v["attempt"] == 2)
    assert during["status"] != "ready"
    assert during["package"]["attempt"] == 1 and during["playback"]["hls"].endswith(
        f"packages/{video}/1/master.m3u8")
    assert package_rows(video) == [(1, True)]

    renditions.send(video, 2, again, ["720p"], expected=FULL_SET)
    (second,) = wait_transcoded(bootstrap, video, 2)
    assert second.package_uri.endswith(f"/packages/{video}/2")
    assert second.event_id != wait_transcoded(bootstrap, video, 1)[0].event_id
    assert f"packages/{video}/2/master.m3u8" in package_keys(store, video, 2)
    assert f"packages/{video}/1/master.m3u8" in package_keys(store, video, 1), \
        "the older package must stay for whoever is still playing it"
    after = wait_catalog(video, "ready on attempt 2",
                         lambda v: v["status"] == "ready"
                         and (v["package"] or {}).get("attempt") == 2)
    assert after["playback"]["hls"].endswith(f"packages/{video}/2/master.m3u8")
    assert {r["height"] for r in after["renditions"] if r["media_type"] == "VIDEO"} == {360, 720}
    assert package_rows(video) == [(1, False), (2, True)]
