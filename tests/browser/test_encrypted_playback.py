"""Encrypted playback end to end (issue 14): a clip uploaded with `encryption=cbcs` is
packaged by the real Shaka Packager with a fresh content key; Shaka Player plays its DASH
and its HLS in headless Chromium through the catalog's ClearKey license service (hls.js
too, as far as its EME allows: see `test_hls_js_with_clearkey`); a segment does not decode
without the key and decodes to the clear rendition's frames with it; the license service
refuses a missing, expired or other-video token; the key is nowhere in clear text in
Postgres, Kafka, S3 or the services' logs; the CPIX document holds the key; and after
`reelflow keys rotate-kek` (catalog restarted with the new KEK) playback still works.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiokafka import TopicPartition

from schemas import ALL_TOPICS
from services.shared.consumers import new_consumer
from services.shared.envelope import new_kek
from services.shared.storage import s3_client
from tests.access import admin_headers
from tests.browser.test_pipeline_playback import absolute, page_origin  # noqa: F401 (fixture)
from tests.browser.test_players import missing_prerequisite, run_engines
from tests.browser.test_signed_playback import mint, signing_key  # noqa: F401 (fixture)
from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.media import make_clip
from tests.slot import INGEST_URL, TEST_ENV, TEST_STATE
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CPIX = "urn:dashif:org:cpix"
PSKC = "urn:ietf:params:xml:ns:keyprov:pskc"
CLIP_SECONDS = 6


@pytest.fixture(scope="module")
def video(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    require(missing_prerequisite())
    clip = make_clip(tmp_path_factory.mktemp("enc") / "e.mp4", 640, 360, seconds=CLIP_SECONDS)
    reply = submit(clip, encryption="cbcs")
    assert reply.status_code == 202, reply.text
    assert reply.json()["playback_policy"] == "signed"  # encryption implies signed
    found = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert found["status"] == "ready", found
    assert found["playback"]["encryption"] == "cbcs"
    return found


@pytest.fixture(scope="module")
def cpix_keys(video: dict[str, Any]) -> dict[str, bytes]:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video['video_id']}/cpix",
                      headers=admin_headers(), timeout=10)
    assert reply.status_code == 200, reply.text
    root = ET.fromstring(reply.content)
    assert root.tag == f"{{{CPIX}}}CPIX" and root.get("version") == "2.3"
    keys = {}
    for entry in root.iter(f"{{{CPIX}}}ContentKey"):
        value = entry.find(f"{{{CPIX}}}Data/{{{PSKC}}}Secret/{{{PSKC}}}PlainValue")
        assert value is not None and entry.get("commonEncryptionScheme") == "cbcs"
        keys[entry.get("kid")] = base64.b64decode(value.text)
    assert keys and all(len(k) == 16 for k in keys.values())
    return keys


def token_url(url: str, token: str) -> str:
    return f"{absolute(url)}?token={token}"


def test_cpix_lists_the_kid_the_dash_manifest_signals(video, signing_key, cpix_keys):  # noqa: F811
    token = mint(signing_key, video["video_id"])
    mpd = httpx.get(token_url(video["playback"]["dash"], token), timeout=10).text
    assert 'schemeIdUri="urn:mpeg:dash:mp4protection:2011"' in mpd and 'value="cbcs"' in mpd
    assert "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" in mpd  # ClearKey
    kids = {k for k in cpix_keys}
    assert any(f'cenc:default_KID="{kid}"' in mpd for kid in kids), mpd
    master = httpx.get(token_url(video["playback"]["hls"], token), timeout=10).text
    playlist = next(line for line in master.splitlines() if line.endswith(f"token={token}")
                    and "playlist.m3u8" in line and not line.startswith("#"))
    media = httpx.get(absolute(video["playback"]["hls"]).rsplit("/", 1)[0] + "/" + playlist,
                      timeout=10).text
    assert '#EXT-X-KEY:METHOD=SAMPLE-AES' in media and 'KEYFORMAT="identity"' in media


def test_the_owner_reads_cpix_and_another_tenant_does_not(video) -> None:
    other = httpx.post(f"{INGEST_URL}/api/v1/admin/api-keys", json={"name": "stranger"},
                       headers=admin_headers(), timeout=10).json()["api_key"]
    deadline = time.monotonic() + 20
    while True:
        reply = httpx.get(f"{CATALOG}/api/v1/videos/{video['video_id']}/cpix",
                          headers={"X-API-Key": other}, timeout=10)
        if reply.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply.status_code in (401, 404), reply.text


def license_request(video_id: str, kids: list[str], token: str | None) -> httpx.Response:
    body = {"kids": [base64.urlsafe_b64encode(uuid.UUID(k).bytes).rstrip(b"=").decode()
                     for k in kids], "type": "temporary"}
    return httpx.post(f"{CATALOG}/license/clearkey/{video_id}", json=body,
                      params={"token": token} if token else None, timeout=10)


def test_the_license_service_answers_a_v_token_with_the_key(video, signing_key, cpix_keys):  # noqa: F811
    kid, key = next(iter(cpix_keys.items()))
    reply = license_request(video["video_id"], [kid], mint(signing_key, video["video_id"]))
    assert reply.status_code == 200, reply.text
    [answer] = reply.json()["keys"]
    assert answer["kty"] == "oct"
    assert base64.urlsafe_b64decode(answer["k"] + "==") == key


def test_the_license_service_refuses_bad_tokens(video, signing_key, cpix_keys):  # noqa: F811
    kids, video_id = list(cpix_keys), video["video_id"]
    assert license_request(video_id, kids, None).json()["error"] == "token_missing"
    assert license_request(video_id, kids, mint(signing_key, video_id, exp_in=-60)
                           ).json()["error"] == "token_expired"
    other = mint(signing_key, str(uuid.uuid4()))
    reply = license_request(video_id, kids, other)
    assert reply.status_code == 403 and reply.json()["error"] == "token_wrong_video"
    assert license_request(video_id, kids, mint(signing_key, video_id, "t")
                           ).json()["error"] == "token_wrong_audience"


def _ffmpeg() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _frames(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_ffmpeg(), "-v", "error", "-xerror", "-err_detect", "explode",
                           *extra, "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
                          capture_output=True, text=True, timeout=120)


def test_a_segment_decodes_only_with_the_key(video, signing_key, cpix_keys, tmp_path):  # noqa: F811
    token = mint(signing_key, video["video_id"])
    base = absolute(video["playback"]["hls"]).rsplit("/", 1)[0]
    rung = min((r for r in video["renditions"] if r["media_type"] == "VIDEO"),
               key=lambda r: r["height"])["rendition"]
    encrypted = tmp_path / "encrypted.mp4"
    encrypted.write_bytes(b"".join(
        httpx.get(f"{base}/{rung}/{name}", params={"token": token}, timeout=10).content
        for name in ("init.mp4", "seg_00001.m4s")))
    without = _frames(encrypted)
    assert without.returncode != 0, "an encrypted segment decoded without its key"
    key = next(iter(cpix_keys.values()))
    decrypted = _frames(encrypted, "-decryption_key", key.hex())
    assert decrypted.returncode == 0, decrypted.stderr
    # The oracle: the clear rendition transcode wrote, decoded frame by frame.
    clear_url = next(d["url"] for d in video["playback"]["mp4"] if d["rendition"] == rung)
    clear = tmp_path / "clear.mp4"
    clear.write_bytes(httpx.get(absolute(clear_url), params={"token": token}, timeout=30).content)
    reference = _frames(clear)
    assert reference.returncode == 0, reference.stderr

    def hashes(out: str) -> list[str]:
        return [line.rsplit(",", 1)[1].strip() for line in out.splitlines()
                if line and not line.startswith("#")]
    got = hashes(decrypted.stdout)
    assert got and got == hashes(reference.stdout)[:len(got)]


def _play(video: dict[str, Any], token: str, origin: str,
          runs: list[tuple[str, str]]) -> list[dict]:
    """(engine, manifest) runs in one browser launch, with the license service configured."""
    license_url = f"{CATALOG}/license/clearkey/{video['video_id']}?token={token}"
    os.environ["REELFLOW_PLAYER_QUERY"] = "&clearkey=" + quote(license_url, safe="")
    try:
        specs = [f"{engine}={token_url(video['playback'][manifest], token)}"
                 for engine, manifest in runs]
        return run_engines(origin, "360", *specs, note="encrypted, ")
    finally:
        del os.environ["REELFLOW_PLAYER_QUERY"]


@pytest.fixture(scope="module")
def encrypted_playback(video, signing_key, page_origin):  # noqa: F811
    origin, _ = page_origin
    token = mint(signing_key, video["video_id"])
    return {"runs": _play(video, token, origin,
                          [("shaka", "dash"), ("shaka", "hls"), ("hls", "hls")])}


def _played(run: dict) -> None:
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= 3.0 and not run["paused"]
    assert run["decodedFrames"] >= 50


def test_shaka_plays_encrypted_dash_and_hls(encrypted_playback: dict) -> None:
    runs = encrypted_playback["runs"]
    _played(runs[0])  # DASH
    _played(runs[1])  # HLS


def test_hls_js_with_clearkey(encrypted_playback: dict) -> None:
    """hls.js 1.7 plays fMP4 SAMPLE-AES only through EME with a KEYFORMAT it maps to a key
    system; `identity` is not one (it decrypts identity SAMPLE-AES itself for MPEG-TS
    only), so hls.js does not play this package: recorded, not hidden."""
    run = encrypted_playback["runs"][2]
    print("hls.js on the encrypted package:", run["failure"], run["errors"], run["warnings"])
    assert run["failure"] is not None or run["errors"] or run["currentTime"] < 1.0, (
        "hls.js played the identity-keyed package: update README and this test", run)


# -- keys at rest --------------------------------------------------------------------------

def _needles(keys: dict[str, bytes]) -> list[bytes]:
    found = []
    for key in keys.values():
        found += [key, key.hex().encode(), key.hex().upper().encode(),
                  base64.b64encode(key), base64.urlsafe_b64encode(key).rstrip(b"=")]
    return found


async def _kafka_values(bootstrap: str) -> list[bytes]:
    consumer = new_consumer(bootstrap)
    await consumer.start()
    values = []
    try:
        parts = [TopicPartition(t.name, p) for t in ALL_TOPICS for p in range(t.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values += [(r.key or b"") + (r.value or b"") for r in records]
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return values


def test_no_content_key_is_stored_in_clear(video, cpix_keys, common_settings) -> None:
    needles = _needles(cpix_keys)
    values = asyncio.run(_kafka_values(TEST_ENV["REELFLOW_KAFKA_BOOTSTRAP"]))
    assert len(values) > 10
    assert not [v for v in values if any(n in v for n in needles)], "a key is on Kafka"
    dsn = TEST_ENV["REELFLOW_PG_DSN"]
    dump = subprocess.run(["pg_dump", "--data-only", "-d", dsn], capture_output=True,
                          timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert len(dump.stdout) > 1000 and not any(n in dump.stdout for n in needles)
    client, bucket = s3_client(common_settings), common_settings.s3_bucket
    scanned = 0
    for prefix in (f"packages/{video['video_id']}/", f"renditions/{video['video_id']}/",
                   f"sources/{video['video_id']}/"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                     Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                assert not any(n in body for n in needles), item["Key"]
                scanned += 1
    assert scanned > 10
    for log in (TEST_STATE / "logs").glob("*.log"):
        text = log.read_bytes()
        assert not any(n in text for n in needles if len(n) > 16), log.name


@pytest.mark.slow  # restarts the catalog with the new KEK: ~45 s, `./run slow`
def test_playback_after_rotate_kek(video, signing_key, cpix_keys, page_origin, pipeline):  # noqa: F811
    old = (TEST_STATE / "kek").read_text().strip()
    new = new_kek()
    env = {**os.environ, "REELFLOW_KEK": new, "REELFLOW_KEK_PREVIOUS": old}
    done = subprocess.run([sys.executable, "-m", "services.cli", "keys", "rotate-kek"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "re-wrapped" in done.stdout and not done.stdout.startswith("re-wrapped 0 "), done.stdout
    catalog = pipeline.component("catalog")
    catalog.env.update({"REELFLOW_KEK": new, "REELFLOW_KEK_PREVIOUS": old})
    pipeline.restart("catalog")
    token = mint(signing_key, video["video_id"])
    kid, key = next(iter(cpix_keys.items()))
    deadline = time.monotonic() + 30
    while (reply := license_request(video["video_id"], [kid], token)).status_code == 503:
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.5)
    assert base64.urlsafe_b64decode(reply.json()["keys"][0]["k"] + "==") == key
    origin, _ = page_origin
    _played(_play(video, token, origin, [("shaka", "dash")])[0])
