"""A 4K upload comes out as a 4K package that plays: a 2160p clip through the real encode
(av1 profile, SVT-AV1's fastest preset) gets every rung from 240p to 2160p, the packager
cuts it, and Shaka Player in headless Chromium plays the DASH manifest up to the 2160p rung.

The clip is 5 s at 10 fps: the same 50 frames (the encode's cost) as 2 s at 25 fps, and long
enough for play.cjs, which plays 4 s and switches to the top rung on the way.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from services.packager.package import PackageResult, RenditionInput, package_renditions
from services.shared.media import probing
from services.shared.settings import CommonSettings
from services.transcode.encode import EncodeResult, encode_all
from services.transcode.ladder import plan_ladder
from services.transcode.profiles import get_profile
from tests.browser.test_players import PackageRequests, missing_prerequisite, run_players
from tests.media import make_clip
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HEIGHTS = [240, 360, 480, 720, 1080, 1440, 2160]
WIDTHS = [426, 640, 854, 1280, 1920, 2560, 3840]
#: AV1 seq_level_idx (AV1 spec annex A): 2160p needs level 5.0 (12) for its picture size.
LEVEL_2160P = 12


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> EncodeResult:
    require(missing_prerequisite())
    clip = make_clip(tmp_path_factory.mktemp("clip") / "uhd.mp4", 3840, 2160, seconds=5,
                     fps=10)
    profile = get_profile("av1", preset="12")

    async def go() -> EncodeResult:
        probe = await probing.probe(clip)
        plan = plan_ladder(probe, profile)
        return await encode_all(clip, tmp_path_factory.mktemp("out"), plan, probe)
    return asyncio.run(go())


@pytest.fixture(scope="module")
def package(encoded: EncodeResult, tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    inputs = [RenditionInput(o.name, o.path, o.media_type.value, o.codecs, o.width, o.height,
                             o.frame_rate, o.bitrate)
              for o in encoded.outputs if o.media_type.value in ("VIDEO", "AUDIO")
              and o.name != "mp3"]
    return package_renditions(inputs, tmp_path_factory.mktemp("pkg") / "package")


@pytest.fixture(scope="module")
def origin(package: PackageResult) -> Iterator[str]:
    handler = type("Handler", (PackageRequests,),
                   {"package_dir": package.out_dir, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_2160p_source_gets_every_rung_up_to_2160p(encoded: EncodeResult) -> None:
    videos = encoded.videos
    assert [o.name for o in videos] == [f"{h}p" for h in HEIGHTS]
    assert [(o.width, o.height) for o in videos] == list(zip(WIDTHS, HEIGHTS, strict=True))
    assert all(o.video_codec == "av1" and o.frame_rate == 10 for o in videos)
    # Bigger rungs cost more bits: the ladder is a ladder.
    assert [o.bitrate for o in videos] == sorted(o.bitrate for o in videos)


def test_codec_levels_are_read_from_the_written_streams(encoded: EncodeResult,
                                                        package: PackageResult) -> None:
    top = encoded.output("2160p")
    # ffprobe's own reading of the bitstream's level, independent of our av1C parsing.
    done = subprocess.run([CommonSettings().ffprobe_path, "-v", "error", "-select_streams",
                           "v:0", "-show_entries", "stream=level", "-of", "json",
                           str(top.path)], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["streams"][0]["level"] == LEVEL_2160P
    assert top.codecs.startswith(f"av01.0.{LEVEL_2160P:02d}M.08")
    mpd = (package.out_dir / package.dash_manifest).read_text()
    assert f'codecs="av01.0.{LEVEL_2160P:02d}M.08"' in mpd
    heights = [int(h) for h in re.findall(r'height="(\d+)"', mpd)]
    assert sorted(set(heights)) == HEIGHTS


def test_shaka_plays_the_4k_package_up_to_the_2160p_rung(origin: str) -> None:
    run = run_players(origin, "2160", "shaka", note="4K av1 ladder, ")["shaka"]
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= 3.0 and not run["paused"]
    assert sorted(r["height"] for r in run["renditions"]) == HEIGHTS
    assert all("av01" in r["codecs"] for r in run["renditions"])
    # It started on the lowest rung and rendered the top one after the switch.
    assert run["heightsSeen"][0] == 240 and run["heightsSeen"][-1] == 2160, run["heightsSeen"]
    assert run["videoHeight"] == 2160
    assert isinstance(run["audioDecodedBytes"], int) and run["audioDecodedBytes"] > 0, run
