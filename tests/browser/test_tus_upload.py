"""tus-js-client, in headless Chromium, uploads through a one-time direct-upload URL with no
API key: the accepted source's SHA-256 is the file's."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.access import admin_headers
from tests.integration.test_pipeline import INGEST
from tests.media import make_clip

pytestmark = [pytest.mark.browser, pytest.mark.integration]
HERE = Path(__file__).resolve().parent


def test_tus_js_client_uploads_through_a_direct_url_without_the_key(
        pipeline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = make_clip(tmp_path / "browser.mp4", 640, 360, 2)
    grant = httpx.post(f"{INGEST}/api/v1/uploads", headers=admin_headers(), timeout=30)
    assert grant.status_code == 201, grant.text
    done = subprocess.run(["node", str(HERE / "tus_upload.cjs"), INGEST, grant.json()["url"],
                           str(clip)], capture_output=True, text=True, timeout=180, check=True)
    report = json.loads(done.stdout)
    assert report["failure"] is None, report["failure"]
    answer = httpx.get(report["url"], timeout=30).json()  # a direct upload: its URL suffices
    video = answer["video"]
    httpx.delete(f"{INGEST}/api/v1/videos/{video['video_id']}", headers=admin_headers(),
                 timeout=30)
    assert video["source"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert video["source"]["size_bytes"] == clip.stat().st_size
