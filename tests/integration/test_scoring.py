"""Quality scoring off the critical path (issue 16): a video is playable without its scores;
the `scoring` group's rendition-scored events bring VMAF, PSNR and SSIM to the catalog,
metadata.json and the below-floor metric afterwards, with their lineage."""

from __future__ import annotations

import json
from typing import Any

import httpx

from schemas.layout import metadata_key
from services.transcode.profiles import get_profile
from tests.access import admin_headers
from tests.integration.test_pipeline import CATALOG, submit, wait_for_scores, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import TEST_ENV


def timeline(video_id: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/events?limit=200",
                      headers=admin_headers(), timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["events"]


def test_a_video_plays_without_the_scorer_and_its_scores_arrive_with_their_lineage(
        pipeline: Any, store: Any, tmp_path: Any) -> None:
    scorer = pipeline.component("scoring")
    scorer.stop()
    try:
        clip = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2)
        reply = submit(clip, metadata='{"title": "Scored later"}')
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        # Ready (packaged, playable) with no scorer running at all: scoring is not on the path.
        video = wait_for_status(video_id, {"ready", "failed"})
        assert video["status"] == "ready", video
        rungs = {r["rendition"]: r for r in video["renditions"] if r["media_type"] == "VIDEO"}
        assert set(rungs) == {"240p", "360p"}
        assert all(r["quality"] is None for r in rungs.values()), rungs
        master = httpx.get(CATALOG + video["playback"]["hls"], timeout=10)
        assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
    finally:
        scorer.start()

    video = wait_for_scores(video_id)
    floor = get_profile("default").vmaf_floor
    shown = {r["rendition"]: r for r in video["renditions"] if r["media_type"] == "VIDEO"}
    for rendition in shown.values():
        quality = rendition["quality"]
        assert 0 < quality["vmaf"] <= 100 and quality["psnr"] > 20 and 0 < quality["ssim"] <= 1
        assert quality["vmaf_floor"] == floor
        assert quality["below_floor"] is (quality["vmaf"] < floor)
        assert quality["frames_scored"] >= 2

    # Lineage: each score names the rendition-done it measured and that file's hash.
    entries = timeline(video_id)
    done = {e["details"]["rendition"]: e for e in entries if e["topic"] == "rendition-done"}
    scores = {e["details"]["rendition"]: e for e in entries if e["topic"] == "rendition-scored"}
    assert set(scores) == set(shown)
    for name, entry in scores.items():
        details = entry["details"]
        assert details["rendition_event_id"] == done[name]["event_id"]
        assert details["rendition_sha256"] == shown[name]["sha256"]
        assert details["rendition_uri"] == shown[name]["uri"]
        assert details["quality"]["vmaf"] == shown[name]["quality"]["vmaf"]
        assert done[name]["details"]["quality"] is None  # transcode no longer scores inline

    # metadata.json picks the figures up once they arrived, for every rung.
    def metrics() -> dict[str, Any] | None:
        ref = store.ref(metadata_key(video_id, 1))
        document = json.loads(store.stream(ref)["Body"].read())
        found = document["quality_metrics"]
        return found if set(found) == set(shown) else None

    found = wait_until(metrics, "quality_metrics for every rung in metadata.json", timeout=30)
    for name, rendition in shown.items():
        q = rendition["quality"]
        assert found[name] == {"vmaf": q["vmaf"], "psnr": q["psnr"], "ssim": q["ssim"]}

    # The below-floor alert's series come from the scorer now.
    port = TEST_ENV["REELFLOW_SCORING_METRICS_PORT"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'reelflow_rendition_vmaf_count{rendition="360p"}' in text
