"""Walking skeleton, end to end: a clip submitted over HTTP comes out as a playable HLS
stream listed in the catalog, every hop an Avro event on real Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import ALL_TOPICS, DEAD_LETTER, VIDEO_UPLOADED, Topic, topic_by_name
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings
from tests.access import admin_headers
from tests.media import make_clip
from tests.slot import CATALOG_URL, INGEST_URL

pytestmark = pytest.mark.integration

INGEST = INGEST_URL
CATALOG = CATALOG_URL
codec = EventCodec(ALL_TOPICS)


def submit(path: Path, thumbnail: Path | None = None, headers: dict[str, str] | None = None,
           **fields: str) -> httpx.Response:
    with path.open("rb") as fh:
        files = {"file": (path.name, fh)}
        if thumbnail is not None:
            files["thumbnail"] = (thumbnail.name, thumbnail.open("rb"))
        return httpx.post(f"{INGEST}/api/v1/videos", files=files, data=fields, timeout=120,
                          headers=headers if headers is not None else admin_headers())


def wait_for_status(video_id: str, wanted: set[str], timeout: float = 240,
                    headers: dict[str, str] | None = None) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", timeout=10,
                          headers=headers if headers is not None else admin_headers())
        if reply.status_code == 200:
            last = reply.json()
            if last.get("status") in wanted:
                return last
        time.sleep(1)
    raise AssertionError(f"{video_id} never reached {wanted}; last seen: {last}")


def end_offsets(bootstrap: str, topic: Topic | str) -> int:
    if isinstance(topic, str):
        topic = topic_by_name(topic)

    async def total() -> int:
        consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            # The registry's partition count: metadata may not be loaded right after start.
            parts = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
            return sum((await consumer.end_offsets(parts)).values())
        finally:
            # aiokafka 0.14: stopping a group-less consumer right after start can surface
            # the CancelledError of its own internal committed-offsets task.
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()
    return asyncio.run(total())


def ffprobe_decodes(data: bytes, tmp: Path) -> None:
    path = tmp / f"{uuid.uuid4()}.mp4"
    path.write_bytes(data)
    result = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                             "stream=codec_type,nb_read_frames", "-of", "csv=p=0", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert any(int(line.split(",")[-1] or 0) > 0 for line in result.stdout.split()), result.stdout


def first_variant_decodes(master: httpx.Response, tmp: Path) -> int:
    """Fetch the master's first variant playlist and decode each of its segments (with the
    init segment) with ffprobe; returns how many there were."""
    media_uri = next(line for line in master.text.splitlines()
                     if line and not line.startswith("#"))
    media = httpx.get(f"{str(master.url).rsplit('/', 1)[0]}/{media_uri}")
    media_base = str(media.url).rsplit("/", 1)[0]
    init_uri = next(line.split('URI="')[1].split('"')[0] for line in media.text.splitlines()
                    if line.startswith("#EXT-X-MAP"))
    init = httpx.get(f"{media_base}/{init_uri}").content
    segments = [line for line in media.text.splitlines() if line and not line.startswith("#")]
    for segment in segments:
        ffprobe_decodes(init + httpx.get(f"{media_base}/{segment}").content, tmp)
    return len(segments)


def test_an_uploaded_clip_becomes_a_playable_hls_stream_in_the_catalog(pipeline, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", 1280, 720, seconds=6)
    poster = tmp_path / "poster.bin"  # a JPEG; the name says nothing, the bytes do
    subprocess.run([CommonSettings().ffmpeg_path, "-v", "error", "-f", "lavfi", "-i",
                    "color=c=red:s=320x180", "-frames:v", "1", "-f", "mjpeg", str(poster)],
                   check=True)
    reply = submit(clip, thumbnail=poster, metadata='{"title": "Skeleton", "tags": ["e2e"]}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]

    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready", video
    names = {r["rendition"] for r in video["renditions"]}
    assert {"360p", "720p"} <= names
    # The uploader's own thumbnail is the primary picture; the automatic ones stay listed.
    assert video["playback"]["thumbnail"].endswith("/thumbnails/thumb_custom.jpg"), video
    assert len(video["playback"]["thumbnails"]) >= 5

    master_url = video["playback"]["hls"]
    master = httpx.get(master_url if master_url.startswith("http") else CATALOG + master_url)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "#EXT-X-STREAM-INF" in master.text
    assert first_variant_decodes(master, tmp_path) > 0


def test_an_audio_only_upload_becomes_an_audio_stream_with_an_mp3(pipeline, tmp_path):
    voice = make_clip(tmp_path / "episode.m4a", 0, 0, seconds=5, video=False)
    reply = submit(voice, metadata='{"title": "Podcast episode"}')
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    kinds = {r["rendition"]: r["media_type"] for r in video["renditions"]}
    assert kinds == {"audio": "AUDIO", "mp3": "AUDIO"}, kinds

    master_url = video["playback"]["hls"]
    master = httpx.get(master_url if master_url.startswith("http") else CATALOG + master_url)
    assert master.status_code == 200, master.text
    variant = master.text.split("#EXT-X-STREAM-INF:")[1]
    assert 'CODECS="mp4a.40.2"' in variant and "RESOLUTION" not in variant
    assert first_variant_decodes(master, tmp_path) > 0


def test_a_non_video_upload_is_refused_with_a_code_and_emits_nothing(pipeline, tmp_path,
                                                                      common_settings):
    before = end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED)
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video extension\n" * 100)
    reply = submit(text)
    assert 400 <= reply.status_code < 500
    body = reply.json()
    assert body["error"] == "not_media" and body["detail"]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    reply = submit(empty)
    assert reply.status_code == 422 and reply.json()["error"] == "empty_file"
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED) == before
    metrics = httpx.get(f"{INGEST}/metrics").text
    assert 'reelflow_ingest_refusals_total{error="not_media"}' in metrics
    assert 'reelflow_ingest_refusals_total{error="empty_file"}' in metrics


def test_garbage_on_video_uploaded_is_dead_lettered_and_the_pipeline_keeps_going(
        pipeline, tmp_path, common_settings):
    garbage = b"\x00not avro\xff" * 10
    key = str(uuid.uuid4()).encode()

    async def publish_garbage() -> set[tuple[int, int]]:
        # One poison record on every partition, so the good video is surely queued behind one.
        producer = AIOKafkaProducer(**client_options(),
                                    bootstrap_servers=common_settings.kafka_bootstrap)
        await producer.start()
        try:
            placed = set()
            for partition in range(VIDEO_UPLOADED.partitions):
                meta = await producer.send_and_wait(VIDEO_UPLOADED.name, garbage, key=key,
                                                    partition=partition)
                placed.add((meta.partition, meta.offset))
            return placed
        finally:
            await producer.stop()

    poison = asyncio.run(publish_garbage())
    clip = make_clip(tmp_path / "after.mp4", 640, 360, seconds=3)
    reply = submit(clip)
    assert reply.status_code == 202, reply.text

    async def find_dead_letters() -> list[dict]:
        consumer = AIOKafkaConsumer(DEAD_LETTER.name,
                                    **client_options(),
                                    bootstrap_servers=common_settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            found: dict[tuple[int, int], dict] = {}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(found) < len(poison):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        event = codec.decode(DEAD_LETTER, record.value)
                        where = (event.original_partition, event.original_offset)
                        # Every group reading the topic dead-letters it; we follow transcode's.
                        if (event.original_topic == VIDEO_UPLOADED.name and where in poison
                                and event.consumer_group == "transcode"):
                            found[where] = {"event": event, "headers": dict(record.headers)}
            assert found.keys() == poison, f"dead-lettered {sorted(found)} of {sorted(poison)}"
            return list(found.values())
        finally:
            await consumer.stop()

    for found in asyncio.run(find_dead_letters()):
        assert found["event"].original_value == garbage
        assert found["event"].original_key == key
        assert found["event"].error_code == "not_avro"
        assert found["event"].consumer_group == "transcode"
        assert found["headers"]["kafka_dlt-original-topic"] == VIDEO_UPLOADED.name.encode()
    assert wait_for_status(reply.json()["video_id"], {"ready", "failed"})["status"] == "ready"
