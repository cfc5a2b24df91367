"""tus resumable uploads and direct uploads against the real stack, with the real `tuspy`
client: a large upload cut mid-way survives an ingest restart, the protocol's refusals
(409, 460) hold, an expired upload leaves no S3 multipart upload behind, and a one-time
direct-upload URL works without the key, once."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

from services.shared.settings import CommonSettings
from services.shared.storage import s3_client
from tests.access import admin_headers
from tests.integration.test_pipeline import INGEST
from tests.media import make_clip
from tests.polling import wait_until

pytestmark = pytest.mark.integration

UPLOADS = f"{INGEST}/api/v1/uploads"
MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
#: Not a multiple of the 8 MiB S3 part, so PATCHes end mid-part and tails are exercised.
CHUNK = 5 * MIB


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def large_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~200 MB of valid 640x360 video: raw frames in Matroska, quick to make and to probe."""
    path = tmp_path_factory.mktemp("tus") / "large.mkv"
    subprocess.run([CommonSettings().ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel",
                    "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24",
                    "-t", "24.2", "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    assert path.stat().st_size >= 200 * 10**6
    return path


def _multipart_ids(common: CommonSettings) -> set[str]:
    listing = s3_client(common).list_multipart_uploads(Bucket=common.s3_bucket)
    return {u["UploadId"] for u in listing.get("Uploads", [])}


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for ingest (pid {pid})")


def _cancel(video_id: str) -> None:
    """Spare the shared machine a transcode of the large clip: only ingest is under test."""
    httpx.delete(f"{INGEST}/api/v1/videos/{video_id}", headers=admin_headers(), timeout=30)


def test_a_large_upload_cut_mid_way_resumes_after_an_ingest_restart(
        pipeline, large_source: Path) -> None:  # type: ignore[no-untyped-def]
    size = large_source.stat().st_size
    client = TusClient(UPLOADS, headers=admin_headers())
    first = client.uploader(str(large_source), chunk_size=CHUNK, upload_checksum=True,
                            metadata={"filename": "large.mkv"})
    cut = (size * 6 // 10) // CHUNK * CHUNK
    first.upload(stop_at=cut)
    assert first.url is not None and first.offset == cut

    pipeline.restart("ingest")
    resumed = client.uploader(str(large_source), url=first.url, chunk_size=CHUNK,
                              upload_checksum=True)
    ingest_pid = pipeline.component("ingest").process.pid
    baseline = _memory_kib(ingest_pid, "VmRSS")  # after its first request (the HEAD)
    assert resumed.offset == cut  # the new process knows where the upload stands (HEAD)
    half = cut + (size - cut) // 2 // CHUNK * CHUNK
    resumed.upload(stop_at=half)
    warmed = _memory_kib(ingest_pid, "VmHWM")  # the PATCH path has run: its buffers exist
    resumed.upload()
    answer = httpx.get(first.url, headers=admin_headers(), timeout=30).json()
    assert answer["offset"] == size
    # Bounded memory: once its PATCH path has run, the process's peak does not grow with
    # the bytes it handles: the second half of the resumed bytes, the assembly and the
    # read-back of all 200 MB for the SHA-256 add almost nothing.
    peak = _memory_kib(ingest_pid, "VmHWM")
    print(f"ingest peak RSS: +{(warmed - baseline) / 1024:.0f} MiB over the first "
          f"{(half - cut) / MIB:.0f} MiB resumed, +{(peak - warmed) / 1024:.0f} MiB over the "
          f"last {(size - half) / MIB:.0f} MiB, the assembly and the hash")
    assert (warmed - baseline) / 1024 < 96
    assert (peak - warmed) / 1024 < 32
    video = answer["video"]
    _cancel(video["video_id"])
    assert video["status"] == "uploaded"
    assert video["source"]["size_bytes"] == size
    assert video["source"]["sha256"] == _sha256(large_source)


def _create(length: int) -> str:
    reply = httpx.post(UPLOADS, headers={**admin_headers(), **TUS,
                                         "Upload-Length": str(length)}, timeout=30)
    assert reply.status_code == 201, reply.text
    return reply.headers["Location"]


def _patch(url: str, offset: int, body: bytes, **extra: str) -> httpx.Response:
    return httpx.patch(url, content=body, timeout=60, headers={
        **admin_headers(), **TUS, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", **extra})


def _offset(url: str) -> int:
    reply = httpx.head(url, headers={**admin_headers(), **TUS}, timeout=30)
    assert reply.status_code == 200
    return int(reply.headers["Upload-Offset"])


def test_a_wrong_offset_gets_409_and_a_failed_checksum_460(pipeline) -> None:  # type: ignore[no-untyped-def]
    url = _create(10 * MIB)
    body = b"\x01" * MIB
    assert _patch(url, 0, body).status_code == 204
    wrong = _patch(url, 5, body)
    assert (wrong.status_code, wrong.json()["error"]) == (409, "upload_offset_mismatch")
    digest = base64.b64encode(hashlib.sha1(b"other bytes").digest()).decode()
    failed = _patch(url, MIB, body, **{"Upload-Checksum": f"sha1 {digest}"})
    assert (failed.status_code, failed.json()["error"]) == (460, "checksum_mismatch")
    assert _offset(url) == MIB  # neither refused PATCH kept a byte
    good = base64.b64encode(hashlib.sha1(body).digest()).decode()
    assert _patch(url, MIB, body, **{"Upload-Checksum": f"sha1 {good}"}).status_code == 204
    assert _offset(url) == 2 * MIB
    assert httpx.delete(url, headers={**admin_headers(), **TUS}).status_code == 204


def test_a_patch_cut_mid_body_keeps_what_arrived(pipeline) -> None:  # type: ignore[no-untyped-def]
    """tus: a server SHOULD keep the bytes of an interrupted PATCH (one without a checksum).
    The client sends 12 MiB of a declared 16 MiB body, then its connection dies."""
    url = _create(32 * MIB)
    sent = 12 * MIB

    def body():  # type: ignore[no-untyped-def]
        for _ in range(sent // MIB):
            yield b"\x03" * MIB
        raise ConnectionAbortedError("the client's connection dies mid-body")

    with pytest.raises(Exception):  # noqa: B017 - any transport error: the cut is ours
        httpx.patch(url, content=body(), timeout=60, headers={
            **admin_headers(), **TUS, "Upload-Offset": "0", "Content-Length": str(16 * MIB),
            "Content-Type": "application/offset+octet-stream"})
    assert wait_until(lambda: _offset(url) == sent, "the cut PATCH's bytes to be kept", 30)
    assert _patch(url, sent, b"\x03" * MIB).status_code == 204
    assert _offset(url) == sent + MIB
    assert httpx.delete(url, headers={**admin_headers(), **TUS}).status_code == 204


def test_an_upload_without_the_key_is_refused(pipeline) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.post(UPLOADS, headers={**TUS, "Upload-Length": "10"}, timeout=30)
    assert reply.status_code == 401
    url = _create(10)
    assert httpx.head(url, headers=TUS, timeout=30).status_code == 401


def test_an_expired_upload_leaves_no_multipart_upload_behind(
        pipeline, common_settings: CommonSettings) -> None:  # type: ignore[no-untyped-def]
    url = _create(20 * MIB)
    assert _patch(url, 0, b"\x02" * (9 * MIB)).status_code == 204  # one part + a tail
    upload_id = url.rsplit("/", 1)[1]
    with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
        s3_id = conn.execute("SELECT s3_upload_id FROM ingest.resumable_uploads"
                             " WHERE upload_id = %s", (upload_id,)).fetchone()[0]
        assert s3_id in _multipart_ids(common_settings)
        # Time travel for the oracle: the upload's expiry is now, not in 24 h.
        conn.execute("UPDATE ingest.resumable_uploads SET expires_at = now()"
                     " WHERE upload_id = %s", (upload_id,))
        wait_until(lambda: conn.execute(
            "SELECT count(*) FROM ingest.resumable_uploads WHERE upload_id = %s",
            (upload_id,)).fetchone()[0] == 0, "the sweep to delete the expired upload", 30)
    assert s3_id not in _multipart_ids(common_settings)
    assert httpx.head(url, headers={**admin_headers(), **TUS}).status_code == 404


def test_a_direct_upload_url_works_without_the_key_once(
        pipeline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = make_clip(tmp_path / "direct.mp4", 640, 360, 2)
    grant = httpx.post(UPLOADS, headers=admin_headers(), timeout=30)
    assert grant.status_code == 201, grant.text
    direct_url = grant.json()["url"]
    uploader = TusClient(direct_url).uploader(str(clip), chunk_size=CHUNK,
                                              metadata={"filename": "direct.mp4"})
    uploader.upload()
    answer = httpx.get(uploader.url, timeout=30).json()
    assert answer["video"]["source"]["sha256"] == _sha256(clip)
    _cancel(answer["video"]["video_id"])
    with pytest.raises(TusCommunicationError) as again:
        TusClient(direct_url).uploader(str(clip), chunk_size=CHUNK).upload()
    assert again.value.status_code == 410
    tampered = direct_url[:-1] + ("0" if direct_url[-1] != "0" else "1")
    refused = httpx.post(tampered, headers={**TUS, "Upload-Length": "10"}, timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (404, "upload_url_invalid")


def test_creation_with_upload_keeps_the_bodys_bytes(pipeline) -> None:  # type: ignore[no-untyped-def]
    body = b"\x04" * (3 * MIB)
    reply = httpx.post(UPLOADS, content=body, timeout=60, headers={
        **admin_headers(), **TUS, "Upload-Length": str(10 * MIB),
        "Content-Type": "application/offset+octet-stream"})
    assert reply.status_code == 201, reply.text
    assert reply.headers["Upload-Offset"] == str(len(body))
    url = reply.headers["Location"]
    assert _offset(url) == len(body)
    options = httpx.options(UPLOADS, timeout=30)
    assert options.status_code == 204
    assert "creation-with-upload" in options.headers["Tus-Extension"].split(",")
    assert httpx.delete(url, headers={**admin_headers(), **TUS}).status_code == 204
    assert httpx.head(url, headers={**admin_headers(), **TUS}).status_code == 404


def test_a_creation_retried_with_its_idempotency_key_answers_the_same_upload(
        pipeline, common_settings: CommonSettings) -> None:  # type: ignore[no-untyped-def]
    """As for a plain upload: the retry answers the first creation's upload (where it
    stands now) with Idempotent-Replayed, creates nothing and writes no byte of its body;
    the same key with another request is 422 idempotency_key_reused."""
    key = {"Idempotency-Key": f"tus-{uuid.uuid4()}"}
    headers = {**admin_headers(), **TUS, **key, "Upload-Length": str(10 * MIB),
               "Content-Type": "application/offset+octet-stream"}

    def uploads_of_admin() -> int:
        with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
            return int(conn.execute("SELECT count(*) FROM ingest.resumable_uploads").fetchone()[0])

    first = httpx.post(UPLOADS, content=b"\x05" * MIB, headers=headers, timeout=60)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    before = uploads_of_admin()
    again = httpx.post(UPLOADS, content=b"\x06" * (2 * MIB), headers=headers, timeout=60)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Upload-Offset"] == str(MIB)  # the retry's body was not written
    assert uploads_of_admin() == before
    assert _offset(first.headers["Location"]) == MIB
    other = httpx.post(UPLOADS, headers={**headers, "Upload-Length": str(20 * MIB)},
                       timeout=30)
    assert (other.status_code, other.json()["error"]) == (422, "idempotency_key_reused")
    assert httpx.delete(first.headers["Location"],
                        headers={**admin_headers(), **TUS}).status_code == 204
    gone = httpx.post(UPLOADS, headers=headers, timeout=30)
    assert (gone.status_code, gone.json()["error"]) == (404, "upload_not_found")
