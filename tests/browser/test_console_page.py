"""The operations console in headless Chromium: after a clip went through the pipeline, the
page at `/console` lists the consumer groups with their status and draws non-empty charts.
The assertions read the DOM and the data each chart was drawn with, never pixels; the same
run saves the screenshot the README shows (docs/console.png).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx
import pytest

from tests.access import admin_headers
from tests.browser.test_players import CHROMIUM, HERE, ROOT, missing_prerequisite
from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.media import make_clip
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GROUPS = ("catalog", "figures", "ingest", "packager", "transcode")
SCREENSHOT = ROOT / "docs" / "console.png"


@pytest.fixture(scope="module")
def page_run(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(missing_prerequisite())
    clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 640, 360, seconds=2)
    reply = submit(clip, metadata=json.dumps({"title": "Console page clip"}))
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    SCREENSHOT.parent.mkdir(exist_ok=True)
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
           "REELFLOW_CHROMIUM": str(CHROMIUM), "REELFLOW_GROUPS": ",".join(GROUPS)}
    done = subprocess.run(["node", str(HERE / "console_page.cjs"), CATALOG, str(SCREENSHOT)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_page_lists_every_group_with_a_status(page_run: dict[str, Any]) -> None:
    assert page_run["failure"] is None, page_run
    assert page_run["consoleErrors"] == [] and page_run["errors"] == [], page_run
    shown = {g["group"]: g for g in page_run["groups"]}
    assert set(GROUPS) <= set(shown), shown
    for name in GROUPS:
        assert shown[name]["status"] in ("OK", "WARN", "STALL", "STOP", "ERR")
        # The status cell and the rule that decided it, as text the operator reads.
        assert shown[name]["status"] in shown[name]["cells"] and any(
            ":" in cell for cell in shown[name]["cells"]), shown[name]


def test_the_partition_rows_show_the_apis_offsets(page_run: dict[str, Any]) -> None:
    api = {g["group"]: g for g in page_run["api"]["groups"]}
    rows = page_run["partitionRows"]
    for name in GROUPS:
        expected = {(p["topic"], p["partition"]): p for p in api[name]["partitions"]}
        drawn = {(r["topic"], r["partition"]): r for r in rows if r["group"] == name}
        assert set(drawn) == set(expected), name
        for key, row in drawn.items():
            p = expected[key]
            assert row["cells"][3:6] == ["-" if p[k] is None else str(p[k])
                                         for k in ("current_offset", "log_end_offset", "lag")]
            # Folded until the group is opened: only what needs no attention.
            assert row["hidden"] == (p["status"] == "OK" and not p["lag"]), (name, key, p)


def test_the_charts_hold_data(page_run: dict[str, Any]) -> None:
    charts = page_run["charts"]
    assert set(charts) == {"throughput", "figures", "playable", "dead-letters", "retries"}
    throughput = charts["throughput"]
    assert throughput["names"] and len(throughput["data"]) == len(throughput["names"]) + 1
    assert any(v and v > 0 for column in throughput["data"][1:] for v in column)
    # The figures service counted the clip (accepted and ready) in a 1-minute window.
    figures = dict(zip(charts["figures"]["names"], charts["figures"]["data"][1:], strict=True))
    assert sum(figures["accepted"]) >= 1 and sum(figures["ready"]) >= 1, figures
    assert page_run["canvases"]["chart-throughput"] >= 1  # uPlot drew it


def test_the_screenshot_was_saved_for_the_readme(page_run: dict[str, Any]) -> None:
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 20_000


def test_the_page_needs_the_admin_key_for_its_data(pipeline) -> None:
    assert httpx.get(f"{CATALOG}/api/v1/console/groups", timeout=10).status_code == 401
    assert httpx.get(f"{CATALOG}/api/v1/console/groups", headers=admin_headers(),
                     timeout=10).status_code == 200
