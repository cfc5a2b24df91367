"""A package stitched from chunks (split and stitch, issue 16) in real players: a 12 s clip
over the test's 8 s chunk threshold is encoded as three 4 s chunks by group `chunks`; hls.js
and Shaka Player play it from the catalog past both chunk edges (4 s and 8 s), switching to
the top rung on the way. Skipped only when Chromium, Node or the npm players are missing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.access import admin_headers
from tests.browser.test_pipeline_playback import absolute, ladder_heights, page_origin
from tests.browser.test_players import missing_prerequisite, run_players
from tests.chunking import chunking
from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.media import make_clip
from tests.tools import require

# Slow: a chunked video takes minutes on 2 cores; `./run slow` runs it.
pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
__all__ = ["page_origin"]  # the fixture, shared with the pipeline's playback test

#: Past the second chunk edge (8 s) of the 12 s clip.
PLAY_UNTIL_S = 9


@pytest.fixture(scope="module")
def chunked_video(pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(missing_prerequisite())
    with chunking(pipeline):
        clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 640, 360, seconds=12)
        reply = submit(clip, metadata='{"title": "Chunked playback"}')
        assert reply.status_code == 202, reply.text
        video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    events = httpx.get(f"{CATALOG}/api/v1/videos/{video['video_id']}/events?limit=200",
                       headers=admin_headers(), timeout=10).json()["events"]
    edges = [e["details"]["chunk_boundaries_seconds"] for e in events
             if e["topic"] == "rendition-done" and e["details"]["media_type"] == "VIDEO"]
    assert edges and all(e == [0.0, 4.0, 8.0, 12.0] for e in edges), edges  # the premise
    return video


@pytest.fixture(scope="module")
def playback(chunked_video: dict[str, Any],
             page_origin: tuple[str, list[str]]) -> Iterator[dict[str, dict]]:
    origin, _ = page_origin
    before = os.environ.get("REELFLOW_PLAY_UNTIL")
    os.environ["REELFLOW_PLAY_UNTIL"] = str(PLAY_UNTIL_S)
    try:
        yield run_players(origin, str(max(ladder_heights(chunked_video))),
                          f"hls={absolute(chunked_video['playback']['hls'])}",
                          f"shaka={absolute(chunked_video['playback']['dash'])}",
                          note="chunked, ")
    finally:
        if before is None:
            os.environ.pop("REELFLOW_PLAY_UNTIL", None)
        else:
            os.environ["REELFLOW_PLAY_UNTIL"] = before


@pytest.mark.parametrize("engine", ["hls", "shaka"])
def test_the_player_plays_a_stitched_package_across_its_chunk_edges(
        playback: dict[str, dict], engine: str, chunked_video: dict[str, Any]) -> None:
    run = playback[engine]
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= PLAY_UNTIL_S and not run["paused"]
    # About 25 frames a second from 0 s to past 8 s: no stall at either edge.
    assert run["decodedFrames"] >= (PLAY_UNTIL_S - 1) * 25, run
    assert run["videoHeight"] == max(ladder_heights(chunked_video))
