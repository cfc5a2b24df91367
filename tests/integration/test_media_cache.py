"""`/media` serves a packaged video's manifests with the cache lifetime the README states
("manifests 60 s") and its segments as immutable for a year, read off a real package: a
clip uploaded through ingest, packaged by the pipeline, served by the running catalog."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.media import make_clip
from tests.slot import ROOT

pytestmark = pytest.mark.integration

YEAR_S = 365 * 24 * 3600


def readme_manifest_seconds() -> int:
    """The manifest lifetime the README promises, from its sentence about `/media`."""
    text = " ".join((ROOT / "README.md").read_text().split())
    found = re.search(r"segments immutable for a year, manifests (\d+) s\b", text)
    assert found, "the README no longer states the manifests' cache lifetime"
    return int(found.group(1))


def absolute(url: str) -> str:
    return url if url.startswith("http") else CATALOG + url


def test_manifests_are_cached_as_the_readme_says_and_segments_for_a_year(pipeline,
                                                                         tmp_path: Path):
    reply = submit(make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2))
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    manifest = f"public, max-age={readme_manifest_seconds()}"

    master_url = absolute(video["playback"]["hls"])
    master = httpx.get(master_url, timeout=30)
    assert master.status_code == 200 and master.headers["cache-control"] == manifest
    variant_url = urljoin(master_url, next(
        line for line in master.text.splitlines() if line and not line.startswith("#")))
    variant = httpx.get(variant_url, timeout=30)
    assert variant.status_code == 200 and variant.headers["cache-control"] == manifest
    dash = httpx.get(absolute(video["playback"]["dash"]), timeout=30)
    assert dash.status_code == 200 and dash.headers["cache-control"] == manifest

    segment_url = urljoin(variant_url, next(
        line for line in variant.text.splitlines() if line.endswith(".m4s")))
    segment = httpx.head(segment_url, timeout=30)
    assert segment.status_code == 200
    assert segment.headers["cache-control"] == f"public, max-age={YEAR_S}, immutable"
