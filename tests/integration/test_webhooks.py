"""Webhooks against a real receiver in the test process: signed (verified with the
`standardwebhooks` library), retried on the session's test-scale schedule
(`REELFLOW_WEBHOOKS_RETRY_SCHEDULE_S` in tests/slot.py), ordered per video, isolated per
tenant, replayed from the log, durable across a SIGKILL, and refused where SSRF lies."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas import ALL_TOPICS, WEBHOOK_ENDPOINTS
from schemas.events import WebhookEndpointState, WebhookSecret
from services.shared.codec import EventCodec
from services.shared.envelope import Keks
from services.shared.kafka_security import client_options
from services.webhooks import sealing
from services.webhooks.signing import new_secret
from tests.access import API_KEY_HEADER, admin_headers
from tests.integration.receiver import Receiver, receiving
from tests.integration.test_pipeline import submit, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import INGEST_URL, TEST_STATE, WEBHOOKS_URL
from tests.topics import records

pytestmark = pytest.mark.integration
HOOKS = f"{WEBHOOKS_URL}/api/v1/webhooks"
CODEC = EventCodec(ALL_TOPICS)


def tenant(name: str) -> dict[str, str]:
    reply = httpx.post(f"{INGEST_URL}/api/v1/admin/api-keys", json={"name": name},
                       headers=admin_headers(), timeout=30)
    assert reply.status_code == 201, reply.text
    key = {API_KEY_HEADER: reply.json()["api_key"]}
    # The webhooks service knows the key once it read it from `api-keys`.
    wait_until(lambda: httpx.get(HOOKS, headers=key, timeout=10).status_code == 200,
               f"the webhooks API accepts {name}'s key")
    return key


def create(key: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    reply = httpx.post(HOOKS, json={"url": url, **fields}, headers=key, timeout=30)
    assert reply.status_code == 201, reply.text
    return reply.json()


def log_of(key: dict[str, str], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    reply = httpx.get(f"{HOOKS}/{endpoint['id']}/deliveries", headers=key, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["items"]


def snapshots_on_kafka(bootstrap: str, endpoint_id: str) -> list[bytes]:
    """The raw values of every `webhook-endpoints` record of the endpoint, as any reader
    of the topic gets them."""
    found = records(bootstrap, WEBHOOK_ENDPOINTS.name, WEBHOOK_ENDPOINTS.partitions)
    return [r.value for r in found if r.key == endpoint_id.encode()]


def endpoint_states(common: Any, endpoint_id: str) -> list[WebhookEndpointState]:
    return [CODEC.decode(WEBHOOK_ENDPOINTS, v)  # type: ignore[misc]
            for v in snapshots_on_kafka(common.kafka_bootstrap, endpoint_id)]


def write_in_clear(bootstrap: str) -> WebhookEndpointState:
    """A disabled endpoint's snapshot with its secret in clear, as v1 wrote them (of a
    tenant nobody has)."""
    moment = datetime.now(UTC)
    state = WebhookEndpointState(
        event_id=str(uuid.uuid4()), occurred_at=moment, endpoint_id=str(uuid.uuid4()),
        owner=f"hooks-clear-{uuid.uuid4().hex[:8]}",
        url="https://hooks.example/written-in-clear", enabled=False,
        secrets=(WebhookSecret(secret=new_secret(), created_at=moment),), created_at=moment)

    async def send() -> None:
        producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap,
                                    acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(WEBHOOK_ENDPOINTS.name,
                                         CODEC.encode(WEBHOOK_ENDPOINTS, state),
                                         key=state.endpoint_id.encode())
        finally:
            await producer.stop()
    asyncio.run(send())
    return state


def verified(secret: str, got: list) -> list[dict[str, Any]]:
    return [Webhook(secret).verify(r.body, r.headers) for r in got]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture(scope="module")
def lifecycle(pipeline: Any, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, Any]:
    """One clip of tenant A, heard by A's endpoints (a healthy one, one answering 500, 500,
    200 to its video.ready, one that hangs) and by none of tenant B's."""
    suffix = uuid.uuid4().hex[:8]
    a, b = tenant(f"hooks-a-{suffix}"), tenant(f"hooks-b-{suffix}")
    receiver.scripts.update({"/a/flaky": [500, 500, 200], "/a/hang": ["hang"]})
    endpoints = {
        "main": create(a, receiver.url("/a/main"), description="all of A's"),
        "flaky": create(a, receiver.url("/a/flaky"), event_types=["video.ready"]),
        "hang": create(a, receiver.url("/a/hang")),
        "b": create(b, receiver.url("/b/main")),
    }
    clip = make_clip(tmp_path_factory.mktemp("hooks") / "clip.mp4", 640, 360, seconds=1)
    # Without captions: a later captions revision would be a second video.ready.
    reply = submit(clip, headers=a, captions="false")
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    ready = wait_for_status(video_id, {"ready"}, headers=a)

    def ready_heard() -> bool:
        return any(json.loads(r.body)["type"] == "video.ready" for r in receiver.at("/a/main"))
    wait_until(ready_heard, "video.ready at A's healthy endpoint", timeout=60)
    return {"a": a, "b": b, "endpoints": endpoints, "video_id": video_id, "ready": ready}


def test_an_uploaded_clip_is_heard_as_uploaded_then_processing_then_ready_all_signed(
        lifecycle, receiver):
    got = receiver.at("/a/main")
    bodies = verified(lifecycle["endpoints"]["main"]["secret"], got)
    types = [b["type"] for b in bodies]
    assert types[0] == "video.uploaded" and types[-1] == "video.ready", types
    first_processing = types.index("video.processing")
    assert 0 < first_processing < types.index("video.ready")
    assert all(t == "video.processing" or t == "video.rendition_ready"
               for t in types[1:-1]), types
    assert {b["data"]["video_id"] for b in bodies} == {lifecycle["video_id"]}
    # data is the catalog's own view: its answer for the video, once the event was applied
    ready = bodies[-1]
    assert ready["data"]["status"] == "ready"
    assert ready["data"]["playback"]["hls"] == lifecycle["ready"]["playback"]["hls"]
    assert {"id", "type", "created_at", "data"} <= set(ready)
    assert ready["id"] == got[-1].headers["webhook-id"]
    steps = [(b["detail"]["stage"], b["detail"]["percent"] // 25) for b in bodies
             if b["type"] == "video.processing"]
    assert len(steps) == len(set(steps))  # at most one per stage step
    # One flipped byte and the signature no longer verifies.
    body = bytearray(got[-1].body)
    body[len(body) // 2] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        Webhook(lifecycle["endpoints"]["main"]["secret"]).verify(bytes(body), got[-1].headers)


def test_500_500_200_is_the_same_webhook_id_three_times_and_three_attempts_in_the_log(
        lifecycle, receiver):
    got = wait_until(lambda: len(receiver.at("/a/flaky")) >= 3 and receiver.at("/a/flaky"),
                     "three attempts at the flaky endpoint", timeout=30)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert {json.loads(r.body)["type"] for r in got} == {"video.ready"}
    assert [r.body for r in got] == [got[0].body] * 3  # the same bytes each time
    verified(lifecycle["endpoints"]["flaky"]["secret"], got)
    (delivery,) = wait_until(lambda: [d for d in log_of(lifecycle["a"],
                                                        lifecycle["endpoints"]["flaky"])
                                      if d["state"] == "delivered"], "the delivered entry")
    assert delivery["message_id"] == got[0].headers["webhook-id"]
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["response"].startswith("answer 500")
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])
    # The waits between the attempts follow the test schedule: 0.5 s, then 1 s.
    assert got[1].at - got[0].at >= 0.5 and got[2].at - got[1].at >= 1.0


def test_a_hanging_endpoint_does_not_delay_the_healthy_ones_ready(lifecycle, receiver):
    hung = receiver.at("/a/hang")
    assert hung, "the hanging endpoint was called"
    main = [r for r in receiver.at("/a/main") if json.loads(r.body)["type"] == "video.ready"]
    created = datetime.fromisoformat(json.loads(main[0].body)["created_at"]).timestamp()
    # The hanging endpoint holds each of its attempts for the 10 s timeout (and its later
    # webhooks of the video wait behind its first), yet the healthy endpoint heard of
    # video.ready within its normal few seconds of the event, under one such timeout.
    assert main[0].at - created < 8.0, main[0].at - created
    hang_types = [json.loads(r.body)["type"] for r in hung]
    assert "video.ready" not in hang_types


def test_tenant_b_hears_nothing_of_tenant_as_video_and_cannot_see_as_endpoints(
        lifecycle, receiver):
    a, b, endpoints = lifecycle["a"], lifecycle["b"], lifecycle["endpoints"]
    # Every webhook is enqueued when its source event is read, before any is sent: by the
    # time A heard video.ready, B's log held all it would ever get of A's video.
    reply = httpx.post(f"{HOOKS}/{endpoints['b']['id']}/test", headers=b, timeout=10)
    assert reply.status_code == 202, reply.text
    marker = reply.json()["message_id"]
    wait_until(lambda: receiver.at("/b/main"), "B's test event")
    assert [r.headers["webhook-id"] for r in receiver.at("/b/main")] == [marker]
    assert [d["message_id"] for d in log_of(b, endpoints["b"])] == [marker]
    for path in ("", "/deliveries"):
        other = httpx.get(f"{HOOKS}/{endpoints['main']['id']}{path}", headers=b, timeout=10)
        assert other.status_code == 404 and other.json()["error"] == "not_found"
    listed = {e["id"] for e in httpx.get(HOOKS, headers=b, timeout=10).json()["items"]}
    assert listed == {endpoints["b"]["id"]}
    everything = {e["id"] for e in httpx.get(HOOKS, headers=admin_headers(),
                                             timeout=10).json()["items"]}
    assert {e["id"] for e in endpoints.values()} <= everything
    assert "secret" not in httpx.get(f"{HOOKS}/{endpoints['main']['id']}", headers=a,
                                     timeout=10).json()


def test_replay_since_resends_exactly_the_webhooks_after_that_time_with_their_ids(
        lifecycle, receiver):
    a, endpoint = lifecycle["a"], lifecycle["endpoints"]["main"]
    before = receiver.at("/a/main")
    bodies = [json.loads(r.body) for r in before]
    since = bodies[len(bodies) // 2]["created_at"]
    expected = [b["id"] for b in bodies if b["created_at"] > since]
    assert expected and len(expected) < len(bodies)
    reply = httpx.post(f"{HOOKS}/{endpoint['id']}/replay", params={"since": since},
                       headers=a, timeout=60)
    assert reply.status_code == 202, reply.text
    assert reply.json()["queued"] == len(expected)
    again = wait_until(lambda: len(receiver.at("/a/main")) >= len(before) + len(expected)
                       and receiver.at("/a/main")[len(before):], "the replayed webhooks")
    assert sorted(r.headers["webhook-id"] for r in again) == sorted(expected)
    assert {r.body for r in again} <= {r.body for r in before}  # byte for byte
    verified(endpoint["secret"], again)


def test_a_dispatcher_killed_with_a_retry_pending_makes_it_after_its_restart(
        pipeline, receiver, common_settings):
    key = tenant(f"hooks-k-{uuid.uuid4().hex[:8]}")
    receiver.scripts["/k"] = [500, 500, 200]
    endpoint = create(key, receiver.url("/k"))
    sent = httpx.post(f"{HOOKS}/{endpoint['id']}/test", headers=key, timeout=10)
    assert sent.status_code == 202, sent.text

    def second_failure_recorded() -> bool:
        log = log_of(key, endpoint)
        return bool(log) and len(log[0]["attempts"]) == 2 and log[0]["state"] == "pending"
    # The second 500 is followed by a 2 s wait (the schedule's third): kill in it.
    wait_until(second_failure_recorded, "the second failed attempt in the log", every=0.05)
    pipeline.kill("webhooks")
    killed_at = time.time()
    assert len(receiver.at("/k")) == 2
    wait_until(lambda: pipeline.component("webhooks").process.pid is None, "the kill")
    old = write_in_clear(common_settings.kafka_bootstrap)  # as v1 did, before sealing
    pipeline.restart("webhooks")
    got = wait_until(lambda: len(receiver.at("/k")) >= 3 and receiver.at("/k"),
                     "the retry after the restart", timeout=30)
    assert got[2].at > killed_at
    assert {r.headers["webhook-id"] for r in got} == {sent.json()["message_id"]}
    verified(endpoint["secret"], got)  # re-read from the topic after the restart
    # On the topic the secret is sealed under the KEK: neither its text nor its key bytes.
    stored = snapshots_on_kafka(common_settings.kafka_bootstrap, endpoint["id"])
    key_bytes = base64.b64decode(endpoint["secret"].removeprefix("whsec_"))
    assert stored and not any(endpoint["secret"].encode() in value or key_bytes in value
                              for value in stored)
    # The snapshot written in clear was re-sealed at the start, under the stack's KEK.
    resealed = wait_until(lambda: [e for e in endpoint_states(common_settings, old.endpoint_id)
                                   if e.sealed_secrets], "the clear snapshot re-sealed")
    assert resealed[-1].secrets == () and resealed[-1].url == old.url
    ring = Keks.from_settings(common_settings.model_copy(
        update={"kek": (TEST_STATE / "kek").read_text().strip()}))
    assert [s.secret for s in sealing.opened(ring, resealed[-1])] == [
        s.secret for s in old.secrets]
    (delivery,) = wait_until(lambda: [d for d in log_of(key, endpoint)
                                      if d["state"] == "delivered"], "the delivered entry")
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    # By hand: one more attempt of the same delivery, with the same id, now.
    retried = httpx.post(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['delivery_id']}/retry",
                         headers=key, timeout=10)
    assert retried.status_code == 202, retried.text
    fourth = wait_until(lambda: len(receiver.at("/k")) >= 4 and receiver.at("/k")[3],
                        "the retry by hand")
    assert fourth.headers["webhook-id"] == sent.json()["message_id"]
    wait_until(lambda: [a["status"] for a in log_of(key, endpoint)[0]["attempts"]]
               == [500, 500, 200, 200], "the fourth attempt in the log")
    unknown = httpx.post(f"{HOOKS}/{endpoint['id']}/deliveries/{uuid.uuid4()}/retry",
                         headers=key, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


@pytest.mark.parametrize(("url", "code"), [
    ("http://127.0.0.2:9/hook", "url_address_refused"),     # loopback, not allow-listed
    ("http://[::1]:9/hook", "url_address_refused"),
    ("http://10.0.0.1/hook", "url_address_refused"),        # private
    ("http://192.168.1.20/hook", "url_address_refused"),
    ("http://169.254.169.254/latest/meta-data", "url_address_refused"),  # link-local
    ("ftp://example.com/hook", "url_scheme_refused"),
    ("file:///etc/passwd", "url_scheme_refused"),
])
def test_registering_an_internal_or_non_http_url_is_a_coded_422(pipeline, url, code):
    reply = httpx.post(HOOKS, json={"url": url}, headers=admin_headers(), timeout=10)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == code
    assert "/work" not in reply.text and "Traceback" not in reply.text


def test_a_redirect_is_not_followed_and_a_410_disables_the_endpoint(pipeline, receiver):
    key = tenant(f"hooks-r-{uuid.uuid4().hex[:8]}")
    receiver.scripts.update({"/redirect": ["redirect"], "/gone": [410]})
    moved, gone = create(key, receiver.url("/redirect")), create(key, receiver.url("/gone"))
    for endpoint in (moved, gone):
        assert httpx.post(f"{HOOKS}/{endpoint['id']}/test", headers=key,
                          timeout=10).status_code == 202
    first = wait_until(lambda: [d for d in log_of(key, moved) if d["attempts"]],
                       "the redirected attempt")[0]["attempts"][0]
    assert (first["status"], first["error"]) == (302, "redirect_refused")
    assert not receiver.at("/redirected")
    wait_until(lambda: not httpx.get(f"{HOOKS}/{gone['id']}", headers=key,
                                     timeout=10).json()["enabled"], "the 410 endpoint disabled")
    view = httpx.get(f"{HOOKS}/{gone['id']}", headers=key, timeout=10).json()
    assert view["disabled_reason"] == "gone"
    httpx.delete(f"{HOOKS}/{moved['id']}", headers=key, timeout=10)
