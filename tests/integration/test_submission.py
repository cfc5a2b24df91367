"""`Submission`, ingest's submission logic, called without HTTP against the real stack
(Kafka, PostgreSQL, S3, ffprobe): a stored clip is accepted (one `video-uploaded` event
with what was stored, one ledger row, the catalog links), and a stored text file is
refused with `not_media`, deleted, and emits nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg_pool import AsyncConnectionPool

from schemas import ALL_TOPICS, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.ingest.errors import Rejection
from services.ingest.ledger import Ledger
from services.ingest.settings import IngestSettings
from services.ingest.state import MIGRATIONS, SCHEMA
from services.ingest.submission import Candidate, Submission
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.migrations import migrate
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore, StoredObject
from tests.integration.test_pipeline import end_offsets
from tests.media import make_clip

pytestmark = pytest.mark.integration


def _store_bytes(store: ObjectStore, video_id: str, data: bytes) -> StoredObject:
    ref = store.ref(f"sources/{video_id}/original")
    upload = store.multipart(ref, "application/octet-stream")
    upload.write(data)
    return upload.complete()


async def _submit(settings: IngestSettings, store: ObjectStore,
                  candidate: Candidate) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(settings.common.pg_dsn) as conn:
        await migrate(conn, MIGRATIONS, SCHEMA)
    producer = EventProducer(settings.common.kafka_bootstrap, EventCodec(ALL_TOPICS), "test")
    pool = AsyncConnectionPool(settings.common.pg_dsn, min_size=1, max_size=2, open=False)
    await pool.open(wait=True, timeout=30)
    await producer.start()
    try:
        return await Submission(settings, producer, store, Ledger(pool)).accept(candidate)
    finally:
        await producer.stop()
        await pool.close()


async def _published(bootstrap: str, video_id: str) -> list[VideoUploaded]:
    """Every `video-uploaded` event of `video_id`, read from the start of the topic."""
    codec = EventCodec(ALL_TOPICS)
    consumer = AIOKafkaConsumer(**client_options(),
                                bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(VIDEO_UPLOADED.name, p) for p in range(VIDEO_UPLOADED.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    if record.key == video_id.encode():
                        found.append(codec.decode(VIDEO_UPLOADED, record.value))
        return found
    finally:
        await consumer.stop()


def _ledger_row(dsn: str, video_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT owner, attempt, submission FROM ingest.videos"
                            " WHERE video_id = %s", (video_id,)).fetchone()


def test_a_stored_clip_is_accepted_published_and_recorded_without_http(local_stack,
                                                                       tmp_path: Path):
    settings = IngestSettings(catalog_url="http://catalog.example")
    store = ObjectStore(settings.common)
    data = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2).read_bytes()
    video_id = str(uuid.uuid4())
    stored = _store_bytes(store, video_id, data)
    before = end_offsets(settings.common.kafka_bootstrap, VIDEO_UPLOADED)

    answer = asyncio.run(_submit(settings, store, Candidate(
        video_id, stored.ref, stored, "clip.mp4", {"title": "direct"}, 7, "acme", "upload")))

    sha256 = hashlib.sha256(data).hexdigest()
    assert answer == {
        "video_id": video_id, "status": "uploaded", "attempt": 1, "priority": 7,
        # What the caller asked of captions and protection (here: the defaults).
        "captions": True, "captions_language": None, "playback_policy": "public",
        "encryption": None,
        "source": {"uri": f"s3://{settings.common.s3_bucket}/sources/{video_id}/original",
                   "size_bytes": len(data), "sha256": sha256},
        "links": {"self": f"http://catalog.example/api/v1/videos/{video_id}",
                  "events": f"http://catalog.example/api/v1/videos/{video_id}/events"},
    }
    assert end_offsets(settings.common.kafka_bootstrap, VIDEO_UPLOADED) == before + 1
    (event,) = asyncio.run(_published(settings.common.kafka_bootstrap, video_id))
    assert (event.source_sha256, event.source_size_bytes) == (sha256, len(data))
    assert (event.owner, event.origin, event.priority) == ("acme", "upload", 7)
    assert json.loads(event.user_metadata_json) == {"title": "direct"}
    assert event.source_info is not None and event.source_info.video is not None
    assert (event.source_info.video.width, event.source_info.video.height) == (640, 360)
    row = _ledger_row(settings.common.pg_dsn, video_id)
    assert row is not None and row[0] == "acme" and row[1] == 1
    assert row[2]["source_sha256"] == sha256
    assert store.head(stored.ref) is not None  # an accepted source stays


def test_a_stored_text_file_is_refused_deleted_and_emits_nothing_without_http(local_stack):
    settings = IngestSettings()
    store = ObjectStore(settings.common)
    video_id = str(uuid.uuid4())
    stored = _store_bytes(store, video_id, b"not a video at all\n" * 200)
    before = end_offsets(settings.common.kafka_bootstrap, VIDEO_UPLOADED)

    with pytest.raises(Rejection) as refused:
        asyncio.run(_submit(settings, store, Candidate(
            video_id, stored.ref, stored, "notes.mp4", {}, 5, "acme", "upload")))

    assert (refused.value.code, refused.value.status) == ("not_media", 422)
    assert store.head(stored.ref) is None
    assert end_offsets(settings.common.kafka_bootstrap, VIDEO_UPLOADED) == before
    assert _ledger_row(settings.common.pg_dsn, video_id) is None
