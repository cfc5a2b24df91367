"""API keys, tenancy, Idempotency-Key and reprocess, against the session's real stack.

Keys are issued through ingest's admin API (an `api-keys` event), so each test also shows
the catalog projecting the same compacted topic: a new key works there, a revoked one stops.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import API_KEYS, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.codec import EventCodec
from services.shared.events import now
from services.shared.kafka_security import client_options
from tests.access import API_KEY_HEADER, admin_headers
from tests.integration.test_ingest import refused
from tests.integration.test_pipeline import CATALOG, INGEST, end_offsets, submit, wait_for_status
from tests.media import make_clip

pytestmark = pytest.mark.integration

KEYS = f"{INGEST}/api/v1/admin/api-keys"


def headers(key: str, **extra: str) -> dict[str, str]:
    return {API_KEY_HEADER: key, **extra}


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"never: {what}")


def issue(name: str, rate_limit: int | None = None) -> dict[str, Any]:
    """A new tenant key, once the catalog knows it too."""
    body: dict[str, Any] = {"name": name}
    if rate_limit is not None:
        body["rate_limit_per_hour"] = rate_limit
    reply = httpx.post(KEYS, json=body, headers=admin_headers(), timeout=30)
    assert reply.status_code == 201, reply.text
    key = reply.json()
    eventually(lambda: httpx.get(f"{CATALOG}/api/v1/videos", params={"limit": 1}, timeout=10,
                                 headers=headers(key["api_key"])).status_code == 200,
               f"the catalog accepts key {key['key_id']}")
    return key


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("access") / "clip.mp4", 640, 360, seconds=2)


def test_writes_and_reads_without_a_valid_key_are_401_and_leave_nothing(clip, unchanged):
    video = str(uuid.uuid4())
    for key, code in ((None, "missing_api_key"), ("rf_not-a-key", "invalid_api_key")):
        sent = headers(key) if key else {}
        with clip.open("rb") as fh:
            refused(httpx.post(f"{INGEST}/api/v1/videos", files={"file": ("c.mp4", fh)},
                               headers=sent, timeout=60), 401, code)
        refused(httpx.post(f"{INGEST}/api/v1/videos/import", json={"source_uri": "s3://x/y"},
                           headers=sent, timeout=30), 401, code)
        refused(httpx.delete(f"{INGEST}/api/v1/videos/{video}", headers=sent, timeout=30),
                401, code)
        refused(httpx.post(f"{INGEST}/api/v1/videos/{video}/reprocess", headers=sent,
                           timeout=30), 401, code)
        refused(httpx.get(KEYS, headers=sent, timeout=30), 401, code)
        for path in ("/api/v1/videos", f"/api/v1/videos/{video}",
                     f"/api/v1/videos/{video}/events", "/api/v1/stats", "/api/v1/dead-letters"):
            refused(httpx.get(f"{CATALOG}{path}", headers=sent, timeout=30), 401, code)


def test_the_admin_issues_lists_and_revokes_keys_and_both_apis_follow(unchanged):
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    key = issue(name)
    assert key["name"] == name and key["active"] and key["rate_limit_per_hour"] == 100
    assert key["api_key"].startswith("rf_") and key["created_at"] and key["last_used_at"] is None
    listed = httpx.get(KEYS, headers=admin_headers(), timeout=30).json()["items"]
    (mine,) = [k for k in listed if k["key_id"] == key["key_id"]]
    assert "api_key" not in mine and "key_sha256" not in mine and mine["name"] == name
    # A tenant key is not an admin key.
    refused(httpx.get(KEYS, headers=headers(key["api_key"]), timeout=30), 403, "admin_only")
    refused(httpx.get(f"{CATALOG}/api/v1/dead-letters", headers=headers(key["api_key"]),
                      timeout=30), 403, "admin_only")
    refused(httpx.post(KEYS, json={"name": "bad name!"}, headers=admin_headers(), timeout=30),
            422, "invalid_key_name")
    refused(httpx.post(KEYS, json={"name": "x", "rate_limit_per_hour": 0},
                       headers=admin_headers(), timeout=30), 422, "invalid_rate_limit")

    revoked = httpx.delete(f"{KEYS}/{key['key_id']}", headers=admin_headers(), timeout=30)
    assert revoked.status_code == 200 and not revoked.json()["active"]
    assert revoked.json()["revoked_at"]
    # Ingest applies its own change at once; the catalog as soon as it reads the topic.
    refused(httpx.delete(f"{INGEST}/api/v1/videos/{uuid.uuid4()}",
                         headers=headers(key["api_key"]), timeout=30), 401, "invalid_api_key")
    eventually(lambda: httpx.get(f"{CATALOG}/api/v1/videos", headers=headers(key["api_key"]),
                                 timeout=10).status_code == 401, "the catalog refuses it")
    refused(httpx.delete(f"{KEYS}/{uuid.uuid4()}", headers=admin_headers(), timeout=30), 404,
            "not_found")


def test_over_the_hourly_limit_is_429_with_retry_after(unchanged):
    key = issue(f"limited-{uuid.uuid4().hex[:8]}", rate_limit=3)
    sent = headers(key["api_key"])
    for _ in range(3):  # counted even when refused for another reason
        refused(httpx.post(f"{INGEST}/api/v1/videos/import", json={}, headers=sent,
                           timeout=30), 400, "missing_source_uri")
    over = httpx.post(f"{INGEST}/api/v1/videos/import", json={}, headers=sent, timeout=30)
    refused(over, 429, "rate_limited")
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    # Catalog reads are authenticated, not metered: the exhausted key still reads.
    for _ in range(5):
        eventually(lambda: httpx.get(f"{CATALOG}/api/v1/videos", headers=sent,
                                     timeout=10).status_code == 200, "the catalog serves it")
    # The key's last use was recorded (debounced) on the topic and shows in the list.
    listed = httpx.get(KEYS, headers=admin_headers(), timeout=30).json()["items"]
    assert [k for k in listed if k["key_id"] == key["key_id"]][0]["last_used_at"]


def test_a_tenant_sees_and_touches_only_its_own_videos(clip):
    alice, bob = issue(f"alice-{uuid.uuid4().hex[:6]}"), issue(f"bob-{uuid.uuid4().hex[:6]}")
    reply = submit(clip, headers=headers(alice["api_key"]),
                   metadata=json.dumps({"title": "Alice's"}))
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    video = wait_for_status(video_id, {"ready", "failed"}, headers=headers(alice["api_key"]))
    assert video["status"] == "ready" and video["owner"] == alice["name"]
    assert wait_for_status(video_id, {"ready"})["owner"] == alice["name"]  # the admin sees all

    def get(path: str, key: dict[str, Any], **params: Any) -> httpx.Response:
        return httpx.get(f"{CATALOG}{path}", params=params, headers=headers(key["api_key"]),
                         timeout=30)

    listed = get("/api/v1/videos", alice, limit=500).json()["items"]
    assert [v["video_id"] for v in listed] == [video_id]
    assert get(f"/api/v1/videos/{video_id}/events", alice).status_code == 200
    assert get("/api/v1/stats", alice).json()["total_videos"] == 1
    assert get("/api/v1/videos", bob, limit=500).json()["items"] == []
    assert get("/api/v1/videos", bob, owner=alice["name"]).json()["items"] == []
    refused(get(f"/api/v1/videos/{video_id}", bob), 404, "not_found")
    refused(get(f"/api/v1/videos/{video_id}/events", bob), 404, "not_found")
    assert get("/api/v1/stats", bob).json()["total_videos"] == 0
    refused(httpx.delete(f"{INGEST}/api/v1/videos/{video_id}", headers=headers(bob["api_key"]),
                         timeout=30), 404, "video_not_found")
    refused(httpx.post(f"{INGEST}/api/v1/videos/{video_id}/reprocess",
                       headers=headers(bob["api_key"]), timeout=30), 404, "video_not_found")
    # The admin's listing includes it, under its owner.
    everyone = httpx.get(f"{CATALOG}/api/v1/videos", params={"owner": alice["name"]},
                         headers=admin_headers(), timeout=30).json()["items"]
    assert [v["video_id"] for v in everyone] == [video_id]


def test_a_retried_upload_with_the_same_idempotency_key_is_answered_once(clip, pipeline, store,
                                                                         common_settings):
    key = issue(f"retry-{uuid.uuid4().hex[:6]}")
    sources = set(store.list_keys("sources/"))
    uploads = end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED)
    sent = headers(key["api_key"], **{"Idempotency-Key": f"upload-{uuid.uuid4()}"})
    first = submit(clip, headers=sent, metadata='{"title": "once"}')
    assert first.status_code == 202, first.text
    again = submit(clip, headers=sent, metadata='{"title": "once"}')
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    refused(submit(clip, headers=sent, metadata='{"title": "another"}'), 422,
            "idempotency_key_reused")
    # Exactly one source object and one event came of the three requests.
    assert len(set(store.list_keys("sources/")) - sources) == 1
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED) == uploads + 1
    # Keys are per tenant: the admin's same key is another request altogether.
    other = submit(clip, headers={**admin_headers(), "Idempotency-Key": sent["Idempotency-Key"]},
                   metadata='{"title": "once"}')
    assert other.status_code == 202 and other.json()["video_id"] != first.json()["video_id"]
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED) == uploads + 2
    refused(submit(clip, headers={**sent, "Idempotency-Key": "has space"}), 422,
            "invalid_idempotency_key")


def test_a_cancelled_video_reprocessed_ends_ready_with_the_new_attempt_current(
        pipeline, common_settings, tmp_path):
    # Long enough that the cancel, sent right after the 202, lands before attempt 1 could be
    # transcoded and packaged: the first outcome must be `cancelled`, never `ready`.
    clip = make_clip(tmp_path / "long.mp4", 640, 360, seconds=30)
    key = issue(f"rework-{uuid.uuid4().hex[:6]}")
    sent = headers(key["api_key"])
    reply = submit(clip, headers=sent, metadata='{"title": "again"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    cancel = httpx.delete(f"{INGEST}/api/v1/videos/{video_id}", headers=sent, timeout=30)
    assert cancel.status_code == 202, cancel.text
    first = wait_for_status(video_id, {"cancelled", "ready", "failed"}, headers=sent)
    assert first["attempt"] == 1 and first["status"] == "cancelled", first

    uploads = end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED)
    retry = {**sent, "Idempotency-Key": f"rework-{uuid.uuid4()}"}
    body = {"renditions": ["360p"]}
    again = httpx.post(f"{INGEST}/api/v1/videos/{video_id}/reprocess", json=body, headers=retry,
                       timeout=30)
    assert again.status_code == 202, again.text
    assert again.json()["attempt"] == 2 and again.json()["renditions"] == ["360p"]
    replay = httpx.post(f"{INGEST}/api/v1/videos/{video_id}/reprocess", json=body,
                        headers=retry, timeout=30)
    assert replay.json() == again.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_UPLOADED) == uploads + 1

    def current() -> bool:
        video = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=sent, timeout=10).json()
        return video["attempt"] == 2 and video["status"] in ("ready", "failed")

    eventually(current, "attempt 2 ends", timeout=300)
    video = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=sent, timeout=10).json()
    assert video["status"] == "ready", video
    assert video["origin"] == "reprocess" and video["title"] == "again"
    assert f"/{video_id}/2/" in video["playback"]["hls"]
    rungs = {r["rendition"] for r in video["renditions"]
             if r["attempt"] == 2 and str(r["media_type"]).upper() == "VIDEO"}
    assert rungs == {"360p"}, [(r["rendition"], r["attempt"], r["media_type"])
                               for r in video["renditions"]]


def test_concurrent_reprocesses_of_an_upstream_video_get_distinct_attempts(pipeline,
                                                                         common_settings):
    """Ingest's own consumer group projects upstream publishers' events too."""
    video_id = str(uuid.uuid4())
    event = VideoUploaded(
        event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=now(),
        source_uri=f"s3://{common_settings.s3_bucket}/upstream/{video_id}/missing",
        attempt=1, origin="upstream")

    async def publish() -> None:
        producer = AIOKafkaProducer(**client_options(),
                                    bootstrap_servers=common_settings.kafka_bootstrap,
                                    acks="all", enable_idempotence=True)
        await producer.start()
        try:
            value = EventCodec((VIDEO_UPLOADED,)).encode(VIDEO_UPLOADED, event)
            await producer.send_and_wait(VIDEO_UPLOADED.name, value, key=video_id.encode())
        finally:
            await producer.stop()

    url = f"{INGEST}/api/v1/videos/{video_id}/reprocess"
    refused(httpx.post(url, headers=admin_headers(), timeout=30), 404, "video_not_found")
    asyncio.run(publish())
    eventually(lambda: httpx.post(url, headers=admin_headers(), json={"profile": "default"},
                                  timeout=30).status_code == 202, "ingest projected it")
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: httpx.post(url, headers=admin_headers(), timeout=60),
                                range(4)))
    assert all(r.status_code == 202 for r in replies), [r.text for r in replies]
    assert sorted(r.json()["attempt"] for r in replies) == [3, 4, 5, 6]
    refused(httpx.post(url, content=b'{"profile": "Nope!"}', headers=admin_headers(),
                       timeout=30), 422, "invalid_profile")


def test_the_stack_creates_the_keys_topic_compacted(pipeline, common_settings):
    async def describe() -> dict[str, str]:
        admin = AIOKafkaAdminClient(**client_options(),
                                    bootstrap_servers=common_settings.kafka_bootstrap)
        await admin.start()
        try:
            found = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, API_KEYS.name)])
        finally:
            await admin.close()
        return {e["config_names"]: e["config_value"] for response in found
                for resource in response.to_object()["resources"]
                for e in resource["config_entries"]}

    config = asyncio.run(describe())
    assert config["cleanup.policy"] == "compact" and config["retention.ms"] == "-1"


def test_malformed_admin_and_rework_requests_get_coded_refusals(unchanged):
    detail = refused(httpx.post(KEYS, json={}, headers=admin_headers(), timeout=30), 422,
                     "invalid_request")
    assert "name" in detail
    refused(httpx.delete(f"{KEYS}/not-a-uuid", headers=admin_headers(), timeout=30), 422,
            "invalid_request")
    refused(httpx.post(f"{INGEST}/api/v1/videos/not-a-uuid/reprocess", headers=admin_headers(),
                       timeout=30), 422, "invalid_request")
