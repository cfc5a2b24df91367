"""Every way into Reelflow, against the real stack: import from S3 and from an allow-listed
server directory, an upstream service publishing `video-uploaded` itself with Apache Avro,
and `reelflow submit`. Each refusal must be coded, keep nothing under `sources/` and emit
nothing on `video-uploaded`.

The session's ingest reads `REELFLOW_INGEST_IMPORT_ROOTS` from tests/conftest.py's TEST_ENV
(one directory inside the test state dir); the tests create that directory.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import VIDEO_UPLOADED
from schemas.principals import UPSTREAM
from services.ingest.errors import Rejection
from services.ingest.importer import confine
from services.shared.kafka_security import acting_as, client_options, stack_principal
from services.shared.storage import ObjectRef, s3_client
from tests.access import admin_headers
from tests.integration.test_pipeline import CATALOG, INGEST, submit, wait_for_status
from tests.media import make_clip
from tests.slot import ROOT, TEST_ENV, TEST_STATE

pytestmark = pytest.mark.integration

IMPORT_ROOT = Path(json.loads(TEST_ENV["REELFLOW_INGEST_IMPORT_ROOTS"])[0])
#: A bucket that is not Reelflow's, standing in for a partner's drop zone.
PARTNER_BUCKET = "partner-drop"
SCHEMA_FILE = ROOT / "schemas" / "video-uploaded" / "v1.avsc"


def import_video(source_uri: str, **extra: Any) -> httpx.Response:
    return httpx.post(f"{INGEST}/api/v1/videos/import", json={"source_uri": source_uri, **extra},
                      timeout=120, headers=admin_headers())


@pytest.fixture(scope="module")
def import_root(pipeline: object) -> Path:
    IMPORT_ROOT.mkdir(parents=True, exist_ok=True)
    return IMPORT_ROOT


def refused(reply: httpx.Response, status: int, code: str) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["error"] == code, body
    assert body["detail"]
    return str(body["detail"])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_from_s3_copies_the_original_into_reelflow_storage(pipeline, store, tmp_path,
                                                                   common_settings):
    s3 = s3_client(common_settings)
    if PARTNER_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=PARTNER_BUCKET)
    clip = make_clip(tmp_path / "partner.mp4", 640, 360, seconds=3)
    key = f"drops/{uuid.uuid4()}/partner.mp4"
    s3.upload_file(str(clip), PARTNER_BUCKET, key)

    reply = import_video(f"s3://{PARTNER_BUCKET}/{key}", priority=7,
                         metadata={"title": "From a partner", "tags": ["import"]})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    video_id = body["video_id"]
    assert body["source"]["uri"] == f"s3://{store.bucket}/sources/{video_id}/original"
    # Recomputed over the copied bytes, not taken from the caller.
    assert body["source"]["sha256"] == sha256_of(clip)
    assert body["source"]["size_bytes"] == clip.stat().st_size
    assert body["priority"] == 7

    # The copy is Reelflow's own: the partner deleting theirs changes nothing.
    s3.delete_object(Bucket=PARTNER_BUCKET, Key=key)
    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready", video
    assert video["origin"] == "import"
    assert video["title"] == "From a partner" and video["priority"] == 7
    assert video["source"]["sha256"] == sha256_of(clip)
    assert store.head(ObjectRef.parse(body["source"]["uri"])) is not None


def test_import_of_a_missing_s3_object_is_refused(unchanged):
    detail = refused(import_video(f"s3://{PARTNER_BUCKET}/no/such/{uuid.uuid4()}.mp4"), 422,
                     "source_not_found")
    assert "does not exist" in detail


def test_import_from_an_allowed_root(import_root, tmp_path):
    clip = make_clip(import_root / f"{uuid.uuid4()}.mp4", 640, 360, seconds=2)
    reply = import_video(str(clip), metadata='{"title": "From disk"}')
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["source"]["sha256"] == sha256_of(clip)
    video = wait_for_status(body["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    assert video["origin"] == "import" and video["source"]["filename"] == clip.name


def test_paths_escaping_the_import_roots_are_refused(import_root, unchanged):
    outside = make_clip(import_root.parent / "outside-the-root.mp4", 640, 360, seconds=2)
    # `..` leads out of the root to a real, valid video: refused by where it really is.
    dotdot = import_root / ".." / outside.name
    assert "outside the allowed import roots" in refused(import_video(str(dotdot)), 403,
                                                         "path_not_allowed")
    refused(import_video(f"file://{dotdot}"), 403, "path_not_allowed")
    # A symlink inside the root pointing outside it.
    link = import_root / f"link-{uuid.uuid4()}.mp4"
    link.symlink_to(outside)
    refused(import_video(str(link)), 403, "path_not_allowed")
    # A symlinked directory inside the root pointing outside it.
    linked_dir = import_root / f"dir-{uuid.uuid4()}"
    linked_dir.symlink_to(import_root.parent, target_is_directory=True)
    refused(import_video(str(linked_dir / outside.name)), 403, "path_not_allowed")
    refused(import_video("/etc/passwd"), 403, "path_not_allowed")
    refused(import_video("relative/clip.mp4"), 422, "invalid_source_uri")
    refused(import_video(str(import_root / "missing.mp4")), 422, "source_not_found")
    refused(import_video(str(import_root)), 422, "not_a_file")


def test_without_import_roots_filesystem_import_is_disabled():
    with pytest.raises(Rejection) as caught:
        confine(Path("/tmp/clip.mp4"), [])
    assert caught.value.code == "import_disabled" and caught.value.status == 403


def test_a_low_resolution_video_is_refused_with_its_size(import_root, tmp_path, unchanged):
    small = make_clip(tmp_path / "small.mp4", 320, 240, seconds=2)
    assert refused(submit(small), 422, "resolution_too_low") == \
        "source is 320x240; the minimum is 640x360"
    on_disk = make_clip(import_root / f"small-{uuid.uuid4()}.mp4", 320, 240, seconds=2)
    assert refused(import_video(str(on_disk)), 422, "resolution_too_low") == \
        "source is 320x240; the minimum is 640x360"


def test_a_text_file_named_mp4_is_not_media(import_root, tmp_path, unchanged):
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video extension\n" * 100)
    refused(submit(text), 422, "not_media")
    on_disk = import_root / f"notes-{uuid.uuid4()}.mp4"
    on_disk.write_text("still text\n" * 100)
    refused(import_video(str(on_disk)), 422, "not_media")


def test_invalid_metadata_and_priority_are_refused(import_root, tmp_path, unchanged):
    clip = make_clip(tmp_path / "fine.mp4", 640, 360, seconds=2)
    refused(submit(clip, metadata="{not json"), 422, "invalid_metadata")
    refused(submit(clip, metadata="[1, 2]"), 422, "invalid_metadata")
    refused(submit(clip, priority="11"), 422, "invalid_priority")
    on_disk = make_clip(import_root / f"fine-{uuid.uuid4()}.mp4", 640, 360, seconds=2)
    refused(import_video(str(on_disk), metadata="{not json"), 422, "invalid_metadata")
    refused(import_video(str(on_disk), metadata=[1, 2]), 422, "invalid_metadata")
    refused(import_video(str(on_disk), priority=11), 422, "invalid_priority")
    refused(import_video(str(on_disk), priority=7.5), 422, "invalid_priority")
    bad_json = httpx.post(f"{INGEST}/api/v1/videos/import", content=b"{oops", timeout=30,
                          headers={"Content-Type": "application/json", **admin_headers()})
    refused(bad_json, 400, "invalid_json")
    refused(httpx.post(f"{INGEST}/api/v1/videos/import", json={}, timeout=30,
                       headers=admin_headers()), 400,
            "missing_source_uri")


def _apache_avro_record(schema_text: str, event: dict[str, Any]) -> bytes:
    """Single-object encoding with Apache Avro, which does not fill defaults itself."""
    schema = avro.schema.parse(schema_text)
    record = dict(event)
    for field in json.loads(schema_text)["fields"]:
        if "default" in field:
            record.setdefault(field["name"], field["default"])
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    return b"\xc3\x01" + schema.fingerprint("CRC-64-AVRO") + body.getvalue()


def stored_upstream_clip(path: Path, common_settings: Any) -> tuple[Path, str, str]:
    """A 3 s 640x360 clip stored where an upstream service keeps its objects:
    (the local file, a new video id, its s3:// URI)."""
    clip = make_clip(path, 640, 360, seconds=3)
    video_id = str(uuid.uuid4())
    key = f"upstream/{video_id}/{path.name}"
    s3_client(common_settings).upload_file(str(clip), common_settings.s3_bucket, key)
    return clip, video_id, f"s3://{common_settings.s3_bucket}/{key}"


def publish_upstream(bootstrap: str, video_id: str, value: bytes) -> None:
    """Write `value` to video-uploaded as an upstream service would: its own producer,
    connected as the `upstream` principal (README "Kafka principals")."""
    with acting_as(stack_principal(TEST_STATE, UPSTREAM)):
        upstream = client_options()

    async def publish() -> None:
        producer = AIOKafkaProducer(**upstream, bootstrap_servers=bootstrap, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(VIDEO_UPLOADED.name, value, key=video_id.encode())
        finally:
            await producer.stop()

    asyncio.run(publish())


def test_an_upstream_service_publishing_with_apache_avro_gets_a_ready_video(
        pipeline, tmp_path, common_settings):
    clip, video_id, uri = stored_upstream_clip(tmp_path / "upstream.mp4", common_settings)
    value = _apache_avro_record(SCHEMA_FILE.read_text(), {
        "event_id": str(uuid.uuid4()),
        "video_id": video_id,
        "occurred_at": datetime.datetime.now(datetime.UTC),
        "source_uri": uri,
        "source_sha256": sha256_of(clip),
        "user_metadata_json": json.dumps({"title": "Upstream", "tags": ["apache-avro"]}),
    })
    publish_upstream(common_settings.kafka_bootstrap, video_id, value)
    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready", video
    assert video["origin"] == "upstream" and video["title"] == "Upstream"
    assert {r["rendition"] for r in video["renditions"]} >= {"360p"}
    hls = video["playback"]["hls"]
    assert hls and hls.endswith("master.m3u8")
    master = httpx.get(hls if hls.startswith("http") else CATALOG + hls, timeout=30)
    assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text


def _ffprobe_duration(path: Path) -> float:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                           "-of", "default=noprint_wrappers=1:nokey=1", str(path)],
                          capture_output=True, text=True, check=True, timeout=60)
    return float(done.stdout.strip())


def test_an_upstream_video_shows_what_the_pipeline_measured_of_it(
        pipeline, tmp_path, common_settings):
    """Only the required fields: no size, hash or probe. Transcode read, hashed and probed
    the object and the packager announced the duration, so the catalog shows them."""
    clip, video_id, uri = stored_upstream_clip(tmp_path / "bare.mp4", common_settings)
    value = _apache_avro_record(SCHEMA_FILE.read_text(), {
        "event_id": str(uuid.uuid4()), "video_id": video_id,
        "occurred_at": datetime.datetime.now(datetime.UTC), "source_uri": uri})
    publish_upstream(common_settings.kafka_bootstrap, video_id, value)
    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready", video
    # Oracles computed here from the file, not by Reelflow.
    assert video["source"]["size_bytes"] == os.stat(clip).st_size
    assert video["source"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert abs(video["duration_seconds"] - _ffprobe_duration(clip)) <= 0.1, video
    info = video["source"]["info"]
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (640, 360)


def _reelflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))


def test_submit_waits_until_ready_and_exits_0(pipeline, tmp_path):
    clip = make_clip(tmp_path / "cli.mp4", 640, 360, seconds=2)
    done = _reelflow("submit", str(clip), "--metadata", '{"title": "From the CLI"}',
                     "--priority", "6", "--wait", "--timeout", "500")
    assert done.returncode == 0, done.stdout + done.stderr
    accepted = json.loads(done.stdout[:done.stdout.rindex("}") + 1])
    assert accepted["status"] == "uploaded" and accepted["priority"] == 6
    assert f"{accepted['video_id']} ready" in done.stdout


def test_submit_prints_the_refusal_and_exits_2(pipeline, tmp_path, unchanged):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    done = _reelflow("submit", str(text))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not_media" in done.stdout and "FFmpeg" in done.stdout
