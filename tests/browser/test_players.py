"""Real players on a real package: hls.js plays master.m3u8 and Shaka Player plays manifest.mpd
in the system's headless Chromium, served over HTTP on 127.0.0.1 with the production
Content-Types. Skipped only when Chromium, Node or the npm players are not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.packager.package import (
    PackageResult,
    TextTrackInput,
    package_renditions,
)
from tests.integration.test_package import MEDIA_TYPES, make_test_ladder
from tests.tools import require

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("REELFLOW_CHROMIUM", "/usr/bin/chromium"))
MODULES = ROOT / "node_modules"
LIBRARIES = {  # served at /lib/<name>
    "hls.js": MODULES / "hls.js/dist/hls.js",
    "shaka-player.js": MODULES / "shaka-player/dist/shaka-player.compiled.js",
}
LADDER = ((640, 360, "500k"), (1280, 720, "1200k"))
TOP_HEIGHT = 720


def missing_prerequisite() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)"
    if shutil.which("node") is None:
        return "node is not installed (Debian package `nodejs`)"
    for needed in [*LIBRARIES.values(), MODULES / "playwright-core/package.json"]:
        if not needed.exists():
            return f"{needed.relative_to(ROOT)} is missing (npm ci at the repo root)"
    return None


class PackageRequests(SimpleHTTPRequestHandler):
    """/pkg/* from the package, /lib/* from node_modules, the rest from tests/browser.
    Single byte ranges are honoured: the I-frame playlists address keyframes by range."""

    package_dir: Path
    requests: list[str]

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/pkg/"):
            return str(self.package_dir / clean[len("/pkg/"):])
        if clean.startswith("/lib/"):
            return str(LIBRARIES.get(clean[len("/lib/"):], HERE / "missing"))
        return str(HERE / clean.lstrip("/"))

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        suffix = Path(path).suffix
        extra = {".js": "text/javascript", ".html": "text/html", ".cjs": "text/javascript"}
        return MEDIA_TYPES.get(suffix) or extra.get(suffix, "application/octet-stream")

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        self.requests.append(f"{self.headers.get('Range', '')} {self.path}".strip())
        byte_range = self.headers.get("Range", "")
        target = Path(self.translate_path(self.path))
        if not byte_range.startswith("bytes=") or not target.is_file():
            super().do_GET()
            return
        first, _, last = byte_range[len("bytes="):].partition("-")
        data = target.read_bytes()
        start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(target))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start:end + 1])

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request list is the log


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    require(missing_prerequisite())
    inputs = make_test_ladder(tmp_path_factory.mktemp("ladder"), ladder=LADDER)
    vtt = tmp_path_factory.mktemp("text") / "en.vtt"
    vtt.write_text("WEBVTT\n\n00:00.500 --> 00:05.000\nReelflow test subtitle\n")
    return package_renditions(inputs, tmp_path_factory.mktemp("pkg") / "package",
                              text_tracks=[TextTrackInput("en", "English", vtt)])


@pytest.fixture(scope="module")
def origin(package: PackageResult) -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("Handler", (PackageRequests,),
                   {"package_dir": package.out_dir, "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def run_players(*args: str, note: str = "") -> dict[str, dict]:
    """Run play.cjs (hls.js and Shaka in headless Chromium); its report per engine."""
    return {e["engine"]: e for e in run_engines(*args, note=note)}


def run_engines(*args: str, note: str = "") -> list[dict]:
    """Run play.cjs; its reports in the order of the engines asked for (one engine may
    play several manifests in one browser launch)."""
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
           "REELFLOW_CHROMIUM": str(CHROMIUM)}
    started = time.monotonic()
    done = subprocess.run(["node", str(HERE / "play.cjs"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    print(f"\nbrowser run {time.monotonic() - started:.1f} s: Chromium {report['chromium']}, "
          f"launch {report['launchSeconds']:.1f} s, {note}"
          + ", ".join(f"{e['engine']} {e['seconds']:.1f} s" for e in report["engines"]))
    assert report["mse"] == {"h264": True, "aac": True}, "this Chromium cannot play H.264/AAC"
    return list(report["engines"])


@pytest.fixture(scope="module")
def playback(origin: tuple[str, list[str]]) -> dict[str, dict]:
    url, _ = origin
    return run_players(url, str(TOP_HEIGHT))


@pytest.mark.parametrize("engine", ["hls", "shaka"])
def test_player_plays_the_whole_ladder(playback: dict[str, dict], engine: str) -> None:
    run = playback[engine]
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= 3.0
    assert run["decodedFrames"] >= 75 and not run["paused"]
    assert sorted(r["height"] for r in run["renditions"]) == [360, 720]
    assert all(r["bandwidth"] > 0 and "avc1" in r["codecs"] for r in run["renditions"])
    # It rendered the lowest rung first and the top rung after the switch.
    assert run["heightsSeen"][:2] == [360, TOP_HEIGHT] and run["videoHeight"] == TOP_HEIGHT
    assert run["audioTracks"] == 1
    # Chromium reports it (webkitAudioDecodedByteCount): a missing count is a failure too.
    assert isinstance(run["audioDecodedBytes"], int) and run["audioDecodedBytes"] > 0, run
    assert run["textTracks"] == 1


def test_hls_js_reads_the_iframe_playlists(playback: dict[str, dict]) -> None:
    run = playback["hls"]
    assert run["iframeVariants"] == 2
    assert run["trick"] is not None and run["trick"]["errors"] == []
    assert run["trick"]["buffered"] >= 1 and run["trick"]["height"] > 0


def test_players_fetched_both_rungs_and_ranges(playback: dict[str, dict],
                                               origin: tuple[str, list[str]]) -> None:
    _, requests = origin
    for rendition in ("360p", "720p", "audio"):
        assert any(f"/pkg/{rendition}/seg_" in r for r in requests), requests
    assert any(r.startswith("bytes=") and "/seg_" in r for r in requests), \
        "the I-frame player fetched no keyframe by byte range"
