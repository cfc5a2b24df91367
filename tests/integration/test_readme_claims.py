"""The README's promises that no other test checked, each against the running stack, through
HTTP, Kafka and the command line: the refusal codes `not_multipart`, `missing_file`,
`file_too_large` and `keys_loading`; Idempotency-Key (`409` while the first request runs, a
dead process's claim taken over after the claim timeout, keys surviving an ingest restart);
key rotation; "3 attempts with backoff, then failed"; the Kafka Connect headers on a dead
letter; the console trace exporter; `/docs` on both APIs; and `reelflow demo` itself on a
short clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import ALL_TOPICS, DEAD_LETTER, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.access import AccessDenied
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.keyring import Keyring
from tests.access import API_KEY_HEADER, admin_headers, admin_key
from tests.integration.test_dlq import publish, wait_for_letter
from tests.integration.test_ingest import refused
from tests.integration.test_pipeline import CATALOG, INGEST, end_offsets, submit, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until
from tests.ports import free_port
from tests.slot import ROOT, TEST_ENV

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
codec = EventCodec(ALL_TOPICS)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("readme") / "clip.mp4", 640, 360, seconds=2)


# --------------------------------------------------------------------------- an own ingest


class IngestProcess:
    """One more `reelflow ingest` on the session's stack, with settings of its own (its own
    port and ledger group, so the session's ingest keeps its partitions)."""

    def __init__(self, root: Path, name: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"ingest-{name}.log"
        env = {**os.environ, "REELFLOW_INGEST_PORT": str(self.port),
               "REELFLOW_INGEST_GROUP_ID": f"ingest-readme-{name}-{RUN}",
               **{f"REELFLOW_INGEST_{k.upper()}": v for k, v in settings.items()}}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "ingest"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(self._healthy, f"ingest {name} healthy", 120)

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return _healthy(self.url)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, leaving whatever it held behind."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def ingest_process(root: Path, name: str, **settings: str) -> Iterator[IngestProcess]:
    process = IngestProcess(root, name, **settings)
    try:
        yield process
    finally:
        process.stop()


class SlowUpload:
    """A multipart upload whose body stops after its first bytes until `finish()`: a
    request that is provably still running while the test does something else."""

    BOUNDARY = "reelflow-slow-upload"

    def __init__(self, url: str, clip: Path, headers: dict[str, str]) -> None:
        self.data = clip.read_bytes()
        self.streaming = threading.Event()
        self.release = threading.Event()
        self.reply: httpx.Response | BaseException | None = None
        self.thread = threading.Thread(target=self._send, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.streaming.wait(30), "the upload never started"

    def _body(self) -> Iterator[bytes]:
        yield (f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"slow.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode()
        yield self.data[:1024]
        self.streaming.set()
        self.release.wait(120)
        yield self.data[1024:]
        yield f"\r\n--{self.BOUNDARY}--\r\n".encode()

    def _send(self, url: str, headers: dict[str, str]) -> None:
        try:
            self.reply = httpx.post(
                f"{url}/api/v1/videos", content=self._body(), timeout=120,
                headers={**headers,
                         "Content-Type": f"multipart/form-data; boundary={self.BOUNDARY}"})
        except BaseException as exc:  # noqa: BLE001 (a killed server is an expected outcome)
            self.reply = exc

    def finish(self) -> httpx.Response | BaseException | None:
        self.release.set()
        self.thread.join(60)
        return self.reply


# --------------------------------------------------------------------------- refusals


def test_a_body_that_is_not_multipart_is_415_not_multipart(pipeline, unchanged):
    reply = httpx.post(f"{INGEST}/api/v1/videos", json={"file": "clip.mp4"}, timeout=30,
                       headers=admin_headers())
    refused(reply, 415, "not_multipart")


def test_a_multipart_body_without_a_file_part_is_400_missing_file(pipeline, unchanged):
    reply = httpx.post(f"{INGEST}/api/v1/videos", timeout=30, headers=admin_headers(),
                       files={"metadata": (None, '{"title": "no file"}')})
    refused(reply, 400, "missing_file")


def test_an_upload_over_the_configured_limit_is_413_file_too_large(pipeline, unchanged,
                                                                    tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(3 * 2**20))
    with ingest_process(tmp_path, "small", max_upload_bytes=str(2**20)) as small:
        # Declared too large (Content-Length) ...
        with big.open("rb") as fh:
            declared = httpx.post(f"{small.url}/api/v1/videos", files={"file": ("big.mp4", fh)},
                                  headers=admin_headers(), timeout=60)
        assert "maximum of 1048576 bytes" in refused(declared, 413, "file_too_large")

        # ... and found too large while streaming (chunked: no length declared).
        def chunks() -> Iterator[bytes]:
            yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
                   b"\r\n\r\n")
            data = big.read_bytes()
            for start in range(0, len(data), 2**16):
                yield data[start:start + 2**16]
            yield b"\r\n--b--\r\n"
        streamed = httpx.post(f"{small.url}/api/v1/videos", content=chunks(), timeout=60,
                              headers={**admin_headers(),
                                       "Content-Type": "multipart/form-data; boundary=b"})
        refused(streamed, 413, "file_too_large")


def test_a_key_unknown_before_the_first_read_of_the_keys_topic_is_503_keys_loading(
        pipeline, common_settings):
    """Against the real `api-keys` topic: a process that has not read it yet cannot tell an
    unknown key from a new one, so it answers 503 with Retry-After, and 401 once it has."""
    issued = httpx.post(f"{INGEST}/api/v1/admin/api-keys", json={"name": f"loading-{RUN}"},
                        headers=admin_headers(), timeout=30).json()
    unknown = f"rf_never-issued-{RUN}"

    async def scenario() -> None:
        keyring = Keyring(common_settings.kafka_bootstrap, admin_key(), codec)
        for presented in (unknown, issued["api_key"]):
            with pytest.raises(AccessDenied) as loading:
                keyring.authenticate(presented)
            assert (loading.value.status, loading.value.code) == (503, "keys_loading")
            assert loading.value.headers["Retry-After"]
        assert keyring.authenticate(admin_key())[0].name == "admin"  # known without the topic
        stop = asyncio.Event()
        follower = asyncio.create_task(keyring.run(stop))
        try:
            await asyncio.wait_for(keyring.caught_up.wait(), 60)
            with pytest.raises(AccessDenied) as unknown_now:
                keyring.authenticate(unknown)
            assert (unknown_now.value.status, unknown_now.value.code) == (401, "invalid_api_key")
            assert keyring.authenticate(issued["api_key"])[0].name == f"loading-{RUN}"
        finally:
            stop.set()
            await asyncio.wait_for(follower, 30)

    asyncio.run(scenario())


# --------------------------------------------------------------------------- Idempotency-Key


def test_idempotency_409_in_flight_a_dead_claim_taken_over_and_keys_survive_a_restart(
        pipeline, clip, common_settings, tmp_path):
    bootstrap = common_settings.kafka_bootstrap
    key = {"Idempotency-Key": f"readme-{RUN}"}
    sent = {**admin_headers(), **key}
    uploads = end_offsets(bootstrap, VIDEO_UPLOADED)
    with ingest_process(tmp_path, "claims", idempotency_claim_timeout_s="3") as doomed:
        slow = SlowUpload(doomed.url, clip, sent)
        # The first request is running (its body is not all sent): a retry is 409.
        refused(submit(clip, headers=sent), 409, "idempotency_key_in_progress")
        claimed_by = time.monotonic()
        doomed.kill()  # the first request dies with its process
        assert not isinstance(slow.finish(), httpx.Response)
    # The session's ingest (claim timeout 3600 s) still sees the dead claim as running.
    refused(submit(clip, headers=sent), 409, "idempotency_key_in_progress")
    assert end_offsets(bootstrap, VIDEO_UPLOADED) == uploads

    with ingest_process(tmp_path, "takeover", idempotency_claim_timeout_s="3") as heir:
        time.sleep(max(0.0, claimed_by + 3.5 - time.monotonic()))  # let the claim expire
        first = httpx.post(f"{heir.url}/api/v1/videos", timeout=120, headers=sent,
                           files={"file": (clip.name, clip.read_bytes())})
        assert first.status_code == 202, first.text
        assert "Idempotent-Replayed" not in first.headers
    assert end_offsets(bootstrap, VIDEO_UPLOADED) == uploads + 1

    # The completed key lives in Postgres: the session's ingest, restarted, replays it.
    pipeline.restart("ingest")
    wait_until(lambda: _healthy(INGEST), "ingest back", 120)
    again = submit(clip, headers=sent)
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert end_offsets(bootstrap, VIDEO_UPLOADED) == uploads + 1


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    return False


# --------------------------------------------------------------------------- key rotation


def test_a_tenant_rotates_its_key_by_issuing_a_new_one_then_revoking_the_old(pipeline, clip):
    """README: several keys may share a name (the tenant); issue a new one, then revoke the
    old. The tenant's videos stay its own under the new key; the old key stops working."""
    tenant = f"rotating-{RUN}"
    keys = f"{INGEST}/api/v1/admin/api-keys"

    def issue() -> dict[str, Any]:
        reply = httpx.post(keys, json={"name": tenant}, headers=admin_headers(), timeout=30)
        assert reply.status_code == 201, reply.text
        return reply.json()

    def as_key(key: dict[str, Any]) -> dict[str, str]:
        return {API_KEY_HEADER: key["api_key"]}

    def catalog_status(key: dict[str, Any], video_id: str) -> int:
        return httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=as_key(key),
                         timeout=10).status_code

    old = issue()
    accepted = submit(clip, headers=as_key(old), metadata='{"title": "before rotation"}')
    assert accepted.status_code == 202, accepted.text
    video_id = accepted.json()["video_id"]
    wait_until(lambda: catalog_status(old, video_id) == 200, "the video in the catalog", 120)

    new = issue()
    assert new["key_id"] != old["key_id"] and new["name"] == old["name"] == tenant
    # The same tenant: the new key reads the video the old one submitted.
    wait_until(lambda: catalog_status(new, video_id) == 200, "the new key reads it", 60)
    assert httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=as_key(new),
                     timeout=10).json()["owner"] == tenant

    revoked = httpx.delete(f"{keys}/{old['key_id']}", headers=admin_headers(), timeout=30)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False
    # Ingest applies its own change at once; the catalog once it has read the topic.
    refused(submit(clip, headers=as_key(old)), 401, "invalid_api_key")
    wait_until(lambda: catalog_status(old, video_id) == 401, "the catalog refuses the old key",
               60)
    after = submit(clip, headers=as_key(new), metadata='{"title": "after rotation"}')
    assert after.status_code == 202, after.text
    assert catalog_status(new, video_id) == 200
    listed = {k["key_id"]: k["active"] for k in httpx.get(
        keys, headers=admin_headers(), timeout=30).json()["items"] if k["name"] == tenant}
    assert listed == {old["key_id"]: False, new["key_id"]: True}


# --------------------------------------------------------------------------- dead letters


def test_a_dead_letter_carries_the_kafka_connect_provenance_headers(pipeline, common_settings):
    bootstrap = common_settings.kafka_bootstrap
    key = str(uuid.uuid4()).encode()
    garbage = b"\x00connect-headers:" + key
    partition, offset = publish(bootstrap, garbage, key)

    async def letter_headers() -> dict[str, bytes]:
        consumer = AIOKafkaConsumer(**client_options(),
                                    bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(DEAD_LETTER.name, p) for p in range(DEAD_LETTER.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        letter = codec.decode(DEAD_LETTER, record.value)
                        if (letter.original_value == garbage
                                and letter.consumer_group == "transcode"):
                            return dict(record.headers)
            raise AssertionError("transcode never dead-lettered the record")
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    headers = asyncio.run(letter_headers())
    assert headers["__connect.errors.topic"] == VIDEO_UPLOADED.name.encode()
    assert headers["__connect.errors.partition"] == str(partition).encode()
    assert headers["__connect.errors.offset"] == str(offset).encode()
    assert headers["__connect.errors.exception.class.name"].endswith(b"NotAvroSingleObject")
    assert headers["__connect.errors.exception.message"]
    assert headers["kafka_dlt-original-consumer-group"] == b"transcode"


# --------------------------------------------------------------------------- telemetry, docs


def spans_in(text: str) -> list[dict[str, Any]]:
    """The JSON objects in a log that mixes one-line JSON logs and pretty-printed spans."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
        at = end
    return found


def test_the_console_exporter_writes_spans_as_json_to_the_service_log(
        pipeline, clip, common_settings, monkeypatch):
    log = Path(common_settings.state_dir) / "logs" / "transcode.log"
    monkeypatch.setattr(pipeline.settings.common, "otel_exporter", "console")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "300")
    try:
        pipeline.restart("transcode")
        start = log.stat().st_size
        reply = submit(clip, metadata='{"title": "console spans"}')
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        assert wait_for_status(video_id, {"ready", "failed"}, 300)["status"] == "ready"

        def the_videos_trace() -> list[dict[str, Any]]:
            with log.open(errors="replace") as fh:
                fh.seek(start)
                spans = spans_in(fh.read())
            # `process video-uploaded` names the video; the spans under it share its trace.
            traces = {s["context"]["trace_id"] for s in spans
                      if s["attributes"].get("reelflow.video_id") == video_id}
            trace = [s for s in spans if s["context"]["trace_id"] in traces]
            return trace if "ffmpeg encode" in {s["name"] for s in trace} else []
        trace = wait_until(the_videos_trace, "the video's spans in transcode's log", 30)
    finally:
        monkeypatch.undo()
        pipeline.restart("transcode")
    assert len({s["context"]["trace_id"] for s in trace}) == 1
    assert {"process video-uploaded", "ffmpeg encode", "ffmpeg run"} <= {
        s["name"] for s in trace}
    assert all(s["resource"]["attributes"]["service.name"] == "reelflow-transcode"
               for s in trace)


@pytest.mark.parametrize("base", [INGEST, CATALOG], ids=["ingest", "catalog"])
def test_both_apis_serve_openapi_at_docs(pipeline, base):
    docs = httpx.get(f"{base}/docs", timeout=10)
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and "/api/v1/videos" in spec["paths"]


# --------------------------------------------------------------------------- the demo


def test_reelflow_demo_takes_a_short_clip_to_ready_and_prints_playable_urls(pipeline):
    """The README's main command, `./run demo` (= `reelflow demo`), on the slot's stack with
    a 4 s 360p clip instead of the default 20 s 1080p."""
    done = subprocess.run([sys.executable, "-m", "services.cli", "demo", "--seconds", "4",
                           "--height", "360", "--timeout", "300"], cwd=ROOT,
                          capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ready in" in done.stdout, done.stdout[-3000:]
    urls = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines()
                if line.strip().startswith(("page: ", "hls: ", "dash: ")))
    catalog = f"http://127.0.0.1:{TEST_ENV['REELFLOW_CATALOG_PORT']}"
    assert set(urls) == {"page", "hls", "dash"}, done.stdout[-3000:]
    assert all(url.startswith(catalog) for url in urls.values()), urls
    assert urls["page"].endswith(f"#key={admin_key()}")
    master = httpx.get(urls["hls"], timeout=30)
    assert master.status_code == 200 and master.text.startswith("#EXTM3U")
    assert "RESOLUTION=640x360" in master.text
    assert httpx.get(urls["dash"], timeout=30).text.lstrip().startswith("<?xml")
    # The stack was already up: the demo started nothing, so it stopped nothing.
    assert _healthy(INGEST) and _healthy(CATALOG)


# --------------------------------------------------------------------------- retries


def retries_total() -> float:
    """transcode's `reelflow_retries_total` for `video-uploaded`, from its /metrics."""
    port = TEST_ENV["REELFLOW_TRANSCODE_METRICS_PORT"]
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if (line.startswith("reelflow_retries_total{") and 'group="transcode"' in line
                and f'topic="{VIDEO_UPLOADED.name}"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_failure_that_persists_is_tried_3_times_with_backoff_then_the_video_fails(
        pipeline, common_settings):
    """A source URI whose bucket name S3 clients refuse: the download fails the same way every
    time, but not with an error the pipeline knows to be permanent (missing object, wrong
    checksum), so it is retried: 3 attempts, pauses of 1 s and 2 s, then `failed`."""
    bootstrap = common_settings.kafka_bootstrap
    video_id = str(uuid.uuid4())
    retries_before = retries_total()
    sent_at = datetime.now(UTC)
    event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=sent_at,
                          source_uri="s3://not a bucket!/sources/x/original",
                          user_metadata_json=json.dumps({"title": "retried"}))
    publish(bootstrap, codec.encode(VIDEO_UPLOADED, event), video_id.encode())

    video = wait_for_status(video_id, {"ready", "failed"}, timeout=120)
    assert video["status"] == "failed", video
    assert video["error"]["code"] == "retries_exhausted", video
    letter = wait_for_letter(bootstrap, int(sent_at.timestamp() * 1000) - 1000,
                             lambda d: d.event.video_id == video_id  # type: ignore[union-attr]
                             and d.event.consumer_group == "transcode")  # type: ignore[union-attr]
    assert letter.event is not None
    assert letter.event.attempts == 3
    assert letter.event.error_code == "retries_exhausted"
    # Two retries (after attempts 1 and 2), waiting 1 s then 2 s: exponential backoff.
    assert retries_total() - retries_before == 2
    assert (letter.event.occurred_at - sent_at).total_seconds() >= 3.0
    log = (Path(common_settings.state_dir) / "logs" / "transcode.log").read_text(errors="replace")
    mine = [json.loads(line)["msg"] for line in log.splitlines()
            if video_id in line and "transient failure" in line]
    assert [m.split(", retrying in ")[0] for m in mine] == [
        "transient failure (attempt 1/3)", "transient failure (attempt 2/3)"], mine
    assert [m.split(", retrying in ")[1].split("s:")[0] for m in mine] == ["1.0", "2.0"], mine
