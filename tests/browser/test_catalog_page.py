"""The catalog page in a real browser: a clip goes through the whole pipeline, then headless
Chromium opens the catalog's `/`, finds the video listed as ready, opens its detail view and
watches the page's hls.js player play it from the catalog's `/media` URLs.

Skipped only when Chromium, Node or the npm packages are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_players import CHROMIUM, HERE, ROOT, missing_prerequisite
from tests.integration.test_pipeline import CATALOG, submit, wait_for_scores, wait_for_status
from tests.media import make_clip
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TITLE = "Catalog page clip"


@pytest.fixture(scope="module")
def ready_video(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(missing_prerequisite())
    clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 1280, 720, seconds=6)
    reply = submit(clip, metadata=json.dumps({"title": TITLE}))
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    # Quality arrives after playback (rendition-scored): the page is looked at once it did.
    return wait_for_scores(video["video_id"])


def run_catalog_page(video_id: str, shot: Path) -> dict[str, Any]:
    """catalog_page.cjs's report on the video's pages (a screenshot into `shot`)."""
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
           "REELFLOW_CHROMIUM": str(CHROMIUM)}
    started = time.monotonic()
    done = subprocess.run(["node", str(HERE / "catalog_page.cjs"), CATALOG, video_id,
                           str(shot)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    report["screenshot"] = shot
    print(f"\ncatalog page run {time.monotonic() - started:.1f} s, screenshot {shot}")
    return report


@pytest.fixture(scope="module")
def page_run(ready_video: dict[str, Any],
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    shot = tmp_path_factory.mktemp("screenshot") / "catalog-page.png"
    return run_catalog_page(ready_video["video_id"], shot)


def test_the_page_and_its_player_script_are_served(pipeline) -> None:
    page = httpx.get(f"{CATALOG}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/vendor/hls.min.js" in page.text
    hls = httpx.get(f"{CATALOG}/static/vendor/hls.min.js", timeout=10)
    assert hls.status_code == 200 and "javascript" in hls.headers["content-type"]
    assert httpx.get(f"{CATALOG}/static/catalog.js", timeout=10).status_code == 200


def test_the_detail_json_links_the_page(ready_video: dict[str, Any]) -> None:
    page = ready_video["playback"]["page"]
    assert page.endswith(f"/videos/{ready_video['video_id']}")
    reply = httpx.get(page if page.startswith("http") else CATALOG + page, timeout=10)
    assert reply.status_code == 200 and "text/html" in reply.headers["content-type"]


def test_the_list_shows_the_ready_video_with_its_thumbnail(page_run: dict[str, Any]) -> None:
    assert page_run["failure"] is None, page_run
    listed = page_run["list"]
    assert TITLE in listed["text"] and "ready" in listed["text"] and "100 %" in listed["text"]
    assert listed["thumbnail"] and listed["thumbnailLoaded"] > 0, listed


def test_the_detail_view_plays_the_video_for_three_seconds(
        page_run: dict[str, Any], ready_video: dict[str, Any]) -> None:
    assert page_run["failure"] is None, page_run
    assert page_run["view"] == "detail" and page_run["title"] == TITLE
    assert page_run["errors"] == [], page_run
    assert page_run["hlsSource"] == ready_video["playback"]["hls"]
    assert page_run["currentTime"] >= 3.0 and not page_run["paused"]
    assert page_run["decodedFrames"] > 0 and page_run["videoHeight"] > 0
    assert not [e for e in page_run["consoleErrors"] if "hls" in e.lower()], page_run


def test_the_detail_view_shows_renditions_with_quality_and_the_timeline(
        page_run: dict[str, Any], ready_video: dict[str, Any]) -> None:
    shown = {row[0]: row for row in page_run["renditions"]}
    expected = {r["rendition"] for r in ready_video["renditions"]}
    assert set(shown) == expected
    scored = [r for r in ready_video["renditions"] if (r.get("quality") or {}).get("vmaf")]
    assert scored, "the pipeline scored no rendition"
    for r in scored:
        assert shown[r["rendition"]][6] == f"{r['quality']['vmaf']:.2f}"
    kinds = {row[1] for row in page_run["timeline"]}
    assert len(page_run["timeline"]) >= 3 and kinds, page_run["timeline"]


def test_a_screenshot_was_taken(page_run: dict[str, Any]) -> None:
    shot: Path = page_run["screenshot"]
    assert shot.is_file() and shot.stat().st_size > 10_000
