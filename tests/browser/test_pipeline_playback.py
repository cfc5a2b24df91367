"""The real served package in real players: a clip goes through the whole pipeline (ingest
HTTP, transcode, packager, catalog), then hls.js plays the catalog's HLS master and Shaka
Player its DASH manifest, both from the catalog's `/media/...` URLs (S3 behind it).

The player page comes from a separate local server, so every manifest, segment and
byte-range request is cross-origin to the catalog: the run fails unless `/media` answers
with CORS headers, honours ranges (hls.js' I-frame player) and sends the production
Content-Types. Skipped only when Chromium, Node or the npm players are missing.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_players import PackageRequests, missing_prerequisite, run_players
from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.media import make_clip
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Long enough for play.cjs: 4 s of playback and an I-frame rendered at 6 s.
CLIP_SECONDS = 8


def absolute(url: str) -> str:
    """Catalog playback URLs are relative to the catalog unless it has a public base URL."""
    return url if url.startswith("http") else CATALOG + url


@pytest.fixture(scope="module")
def ready_video(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(missing_prerequisite())
    clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 1280, 720,
                     seconds=CLIP_SECONDS)
    reply = submit(clip, metadata='{"title": "Browser playback"}')
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    return video


@contextlib.contextmanager
def page_origin_server(requests: list[str] | None = None) -> Iterator[str]:
    """Serves player.html and the players only; /pkg/ is empty, so media can only come from
    the catalog. Each request's path is added to `requests`."""
    with tempfile.TemporaryDirectory(prefix="no-package-") as empty:
        handler = type("Handler", (PackageRequests,),
                       {"package_dir": Path(empty),
                        "requests": requests if requests is not None else []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def page_origin() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    with page_origin_server(requests) as origin:
        yield origin, requests


def ladder_heights(video: dict[str, Any]) -> list[int]:
    return sorted(r["height"] for r in video["renditions"] if r["media_type"] == "VIDEO")


@pytest.fixture(scope="module")
def playback(ready_video: dict[str, Any], page_origin: tuple[str, list[str]]) -> dict[str, dict]:
    origin, _ = page_origin
    hls, dash = ready_video["playback"]["hls"], ready_video["playback"]["dash"]
    assert hls and dash, ready_video["playback"]
    return run_players(origin, str(max(ladder_heights(ready_video))),
                       f"hls={absolute(hls)}", f"shaka={absolute(dash)}",
                       note=f"ladder {ladder_heights(ready_video)}, ")


@pytest.mark.parametrize("engine", ["hls", "shaka"])
def test_player_plays_the_catalogs_package(playback: dict[str, dict], engine: str,
                                           ready_video: dict[str, Any]) -> None:
    run = playback[engine]
    heights = ladder_heights(ready_video)
    assert len(heights) >= 2, ready_video["renditions"]
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= 3.0 and not run["paused"]
    assert run["decodedFrames"] >= 75
    # The player sees the ladder the catalog lists, and rendered its lowest and top rungs.
    assert sorted(r["height"] for r in run["renditions"]) == heights
    assert all(r["bandwidth"] > 0 and "avc1" in r["codecs"] for r in run["renditions"])
    assert run["heightsSeen"][0] == heights[0] and run["videoHeight"] == heights[-1]
    assert run["audioTracks"] == 1


def test_hls_js_fetches_keyframes_from_the_catalog_by_range(playback: dict[str, dict]) -> None:
    trick = playback["hls"]["trick"]
    assert trick is not None and trick["errors"] == [], trick
    assert trick["buffered"] >= 1 and trick["height"] > 0


def test_media_came_from_the_catalog_not_the_page_server(
        playback: dict[str, dict], page_origin: tuple[str, list[str]]) -> None:
    _, requests = page_origin
    assert not any("/pkg/" in r for r in requests), requests
    assert any("player.html" in r for r in requests)


def test_the_page_and_the_media_are_on_different_origins(
        ready_video: dict[str, Any], page_origin: tuple[str, list[str]]) -> None:
    # Guards the premise of this module: were both on one origin, CORS would go untested.
    origin, _ = page_origin
    url = absolute(ready_video["playback"]["hls"])
    assert not url.startswith(origin + "/")
    reply = httpx.get(url, headers={"Origin": origin, "Range": "bytes=0-15"}, timeout=10)
    assert reply.status_code == 206, reply.headers
    assert reply.headers["access-control-allow-origin"] in ("*", origin)
