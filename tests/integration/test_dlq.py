"""`reelflow dlq` against the running pipeline: dead letters are listed and shown from the
log, a redrive re-publishes the original record, a redriven record that fails again comes
back once with a higher count, and redriving after the cause is fixed reprocesses a video."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import ALL_TOPICS, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.codec import EventCodec
from services.shared.dead_letter_log import DeadLetter, read_dead_letters
from services.shared.kafka_security import client_options
from services.shared.storage import s3_client
from tests.access import admin_headers
from tests.integration.test_catalog import pipeline_log_ends
from tests.media import make_clip
from tests.slot import CATALOG_URL

pytestmark = pytest.mark.integration

CATALOG = CATALOG_URL
ROOT = Path(__file__).resolve().parents[2]
codec = EventCodec(ALL_TOPICS)


def reelflow(*args: str) -> str:
    """Run the real command line, as an operator would."""
    result = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def publish(bootstrap: str, value: bytes, key: bytes,
            headers: list[tuple[str, bytes]] | None = None) -> tuple[int, int]:
    async def send() -> tuple[int, int]:
        producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            meta = await producer.send_and_wait(VIDEO_UPLOADED.name, value, key=key,
                                                headers=headers or [])
            return meta.partition, meta.offset
        finally:
            await producer.stop()
    return asyncio.run(send())


def wait_for_letter(bootstrap: str, since_ms: int, wanted: Callable[[DeadLetter], bool],
                    timeout: float = 180) -> DeadLetter:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in asyncio.run(read_dead_letters(bootstrap, since_ms))
                 if d.event is not None and wanted(d)]
        if found:
            return found[-1]
        time.sleep(2)
    raise AssertionError("the expected dead letter never arrived")


def video(video_id: str) -> dict:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", timeout=10,
                      headers=admin_headers())
    return reply.json() if reply.status_code == 200 else {}


def wait_for(condition: Callable[[], dict | None], what: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_poison_record_is_listed_shown_redriven_and_returns_once_with_its_count(
        pipeline, common_settings) -> None:
    bootstrap = common_settings.kafka_bootstrap
    since = int(time.time() * 1000) - 1000
    key = str(uuid.uuid4()).encode()
    garbage = b"\x00poison:" + key
    partition, offset = publish(bootstrap, garbage, key, [("origin-system", b"dlq-test")])

    def transcode_gave_up(count: int) -> Callable[[DeadLetter], bool]:
        return lambda d: (d.event.original_value == garbage  # type: ignore[union-attr]
                          and d.event.consumer_group == "transcode"  # type: ignore[union-attr]
                          and d.event.redrive_count == count)  # type: ignore[union-attr]

    letter = wait_for_letter(bootstrap, since, transcode_gave_up(0))
    assert letter.origin == (VIDEO_UPLOADED.name, partition, offset)
    assert letter.event is not None and letter.event.error_code == "not_avro"

    table = reelflow("dlq", "list", "--limit", "0")
    assert letter.id in table and f"video-uploaded/{partition}@{offset}" in table
    rows = [json.loads(line) for line in
            reelflow("dlq", "list", "--json", "--group", "transcode", "--limit", "0").splitlines()]
    row = next(r for r in rows if r["id"] == letter.id)
    assert (row["original_topic"], row["original_partition"], row["original_offset"]) == (
        VIDEO_UPLOADED.name, partition, offset)
    assert row["error_code"] == "not_avro" and row["redrive_count"] == 0
    assert row["copies"] >= 1  # 2 if a rebalance had transcode redo the record

    shown = reelflow("dlq", "show", letter.id)
    assert "kafka_dlt-original-topic = video-uploaded" in shown
    assert "origin-system = dlq-test" in shown
    assert "00 70 6f 69 73 6f 6e 3a" in shown  # hexdump of b"\x00poison:"
    assert "Traceback" in shown or "NotAvroSingleObject" in shown

    out = reelflow("dlq", "redrive", letter.id)
    assert f"redrove {letter.id} -> video-uploaded/{partition}@" in out

    again = wait_for_letter(bootstrap, since, transcode_gave_up(1))
    assert again.event is not None
    assert again.event.original_topic == VIDEO_UPLOADED.name
    assert again.event.original_partition == partition  # kept in order with its video
    assert again.event.original_offset > offset
    assert again.event.original_key == key
    headers = {h.key: h.value for h in again.event.original_headers}
    assert headers["reelflow-redrive-count"] == b"1"
    assert headers["reelflow-redriven-from"] == f"dead-letter:{letter.id}".encode()
    assert headers["origin-system"] == b"dlq-test"

    # Nothing redrives on its own: the copy stays dead-lettered, it does not cycle. Proof
    # without a sleep: a marker record on the same partition (same key), dead-lettered by
    # transcode after the copy, then the partition holds nothing between copy and marker
    # or after the marker, and there are still exactly the two dead letters.
    marker = b"\x00marker:" + key
    _, marker_offset = publish(bootstrap, marker, key)
    wait_for_letter(bootstrap, since, lambda d: d.event.original_value == marker  # type: ignore[union-attr]
                    and d.event.consumer_group == "transcode")  # type: ignore[union-attr]
    assert marker_offset == again.event.original_offset + 1
    ends = asyncio.run(pipeline_log_ends(bootstrap))
    assert ends[(VIDEO_UPLOADED.name, partition)] == marker_offset + 1
    counts = sorted(d.event.redrive_count for d in asyncio.run(read_dead_letters(
        bootstrap, since)) if d.event and d.event.original_value == garbage
        and d.event.consumer_group == "transcode")
    assert counts == [0, 1]

    # Bulk redrive of what transcode gave up on: one copy per original record, and a record
    # already redriven --max-redrives times is left alone (the marker is an original record
    # too). (Scoped to the group: other groups may dead-letter other tests' records on the
    # same topic meanwhile.)
    iso = datetime.fromtimestamp(since / 1000, UTC).isoformat()
    plan = reelflow("dlq", "redrive", "--topic", VIDEO_UPLOADED.name, "--since", iso,
                    "--group", "transcode", "--max-redrives", "1", "--dry-run").splitlines()
    assert [line.split(" -> ")[1] for line in plan if line.startswith("would redrive")] == [
        f"video-uploaded/{partition}/{offset}", f"video-uploaded/{partition}/{marker_offset}"]
    assert f"skipped {again.id}: already redriven 1 times (--max-redrives 1)" in plan


def test_redriving_after_the_missing_source_is_uploaded_reprocesses_the_video(
        pipeline, common_settings, tmp_path) -> None:
    bootstrap = common_settings.kafka_bootstrap
    since = int(time.time() * 1000) - 1000
    video_id = str(uuid.uuid4())
    key = f"sources/{video_id}/original"
    event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                          occurred_at=datetime.now(UTC),
                          source_uri=f"s3://{common_settings.s3_bucket}/{key}",
                          user_metadata_json=json.dumps({"title": "Redrive me"}))
    publish(bootstrap, codec.encode(VIDEO_UPLOADED, event), video_id.encode())

    failed = wait_for(lambda: (v := video(video_id)).get("status") == "failed" and v,
                      "the catalog to show the video failed", timeout=180)
    assert failed["error"]["code"] == "source_missing", failed
    letter = wait_for_letter(bootstrap, since, lambda d: d.event.video_id == video_id
                             and d.event.consumer_group == "transcode")
    assert letter.event is not None and letter.event.error_code == "source_missing"

    # The cause is fixed (the upstream system stores the object), then the record redriven.
    clip = make_clip(tmp_path / "late.mp4", 640, 360, seconds=3)
    s3_client(common_settings).upload_file(str(clip), common_settings.s3_bucket, key)
    reelflow("dlq", "redrive", letter.id)

    packaged = wait_for(lambda: (v := video(video_id)).get("package") and v,
                        "the redriven attempt to be packaged", timeout=300)
    assert packaged["package"], packaged
    assert packaged["renditions"], packaged
    # A package that arrives after the failure heals it: the redriven video is playable.
    assert packaged["status"] == "ready", packaged
