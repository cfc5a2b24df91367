"""Stills, sprite sheet and WebVTT storyboard, cut from the encode's own decode.

Three branches of the encode graph's split, so the source is decoded once:
- stills at 0/25/50/75 %: `select` on exact frame numbers (the graph is constant-rate by
  then, so frame n is at n/fps);
- the 100 % still, the last decodable frame: nobody knows which frame is last until the
  decoder hits the end, so every frame of the final seconds goes to an image2 output with
  `update=1`, which keeps overwriting one file; what remains is the last frame. A window,
  not the whole video, because each of those frames is JPEG-encoded;
- storyboard tiles: every K-th frame at 160 px wide, one small JPEG each.

Why the tiles are not `tile`d inside the encode graph: ffmpeg holds back `-progress`
reports and throttles its demuxer until every output has received a frame, and `tile`
emits nothing before its grid is full, i.e. at the very end. Measured on a 10 s 720p
clip that cost 45 % more wall time and no progress until 95 %. So the encode writes the
tiles and `assemble_sprite` joins them in a second, image-only ffmpeg run (a few dozen
160 px JPEGs, milliseconds; no video is decoded twice). The same reason makes the
last-frame branch also take frame 0 (overwritten later): it starts its output early.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python: builds the filter graph and argv, runs nothing

from services.shared.media.process import run_ffmpeg
from services.shared.settings import CommonSettings
from services.transcode.profiles import PictureOutputs

SPRITE = "sprite.jpg"
STORYBOARD = "storyboard.vtt"
TILE_DIR = "tiles"
#: Seconds before the probed end from which frames feed the last-frame still. Generous,
#: since container durations can overstate the picture by a GOP or so.
LAST_FRAME_WINDOW_S = 3.0


def still_name(position: float) -> str:
    return f"thumb_{round(position * 100):03d}.jpg"


@dataclass(frozen=True)
class ThumbnailPlan:
    pictures: PictureOutputs
    frame_rate: Fraction
    #: Frame number of each position below 1.0.
    frames: dict[float, int]
    last_from_s: float
    still_size: tuple[int, int]
    tile_size: tuple[int, int]
    #: A storyboard tile every this many frames.
    tile_every: int

    @property
    def tile_seconds(self) -> Fraction:
        return self.tile_every / self.frame_rate


def plan_thumbnails(pictures: PictureOutputs, frame_rate: Fraction, duration_s: float,
                    still_size: tuple[int, int]) -> ThumbnailPlan:
    """Pure: frame numbers, last-frame window and tile spacing for `duration_s` of video."""
    frames_est = max(1, math.ceil(duration_s * frame_rate))
    frames = {p: min(frames_est - 1, math.floor(p * duration_s * frame_rate))
              for p in pictures.positions if p < 1.0}
    interval = max(pictures.sprite_interval_s, math.ceil(duration_s / pictures.sprite_max_tiles))
    width, height = still_size
    tile_w = pictures.sprite_tile_width
    return ThumbnailPlan(
        pictures=pictures, frame_rate=frame_rate, frames=frames,
        last_from_s=max(0.0, duration_s - LAST_FRAME_WINDOW_S), still_size=still_size,
        tile_size=(tile_w, max(2, 2 * round(tile_w * height / width / 2))),
        tile_every=max(1, round(interval * frame_rate)),
    )


def thumbnail_outputs(branches: list[Any], plan: ThumbnailPlan, folder: Path) -> list[Any]:
    """ffmpeg-python outputs for three split branches: stills, last frame, tiles."""
    stills, last, tiles = branches
    width, height = plan.still_size
    # passthrough: an image sequence must not get frames duplicated to fill time gaps.
    jpeg = {"q:v": plan.pictures.jpeg_quality, "fps_mode": "passthrough", "map_metadata": -1}
    picks = "+".join(f"eq(n,{n})" for n in sorted(set(plan.frames.values())))
    return [
        ffmpeg.output(stills.filter("select", picks).filter("scale", width, height),
                      str(folder / "still_%d.jpg"), **jpeg),
        ffmpeg.output(last.filter("select", f"eq(n,0)+gte(t,{plan.last_from_s:.3f})")
                      .filter("scale", width, height),
                      str(folder / still_name(1.0)), update=1, **jpeg),
        ffmpeg.output(tiles.filter("select", f"not(mod(n,{plan.tile_every}))")
                      .filter("scale", *plan.tile_size),
                      str(folder / TILE_DIR / "tile_%05d.jpg"), **jpeg),
    ]


def collect_stills(plan: ThumbnailPlan, folder: Path) -> list[Path]:
    """Name the stills by position (`thumb_025.jpg`) and return them in position order.

    A position whose frame never came (the container claimed more frames than there were)
    gets the last frame, the nearest real picture to where it should have been.
    """
    numbered = {n: folder / f"still_{i}.jpg"
                for i, n in enumerate(sorted(set(plan.frames.values())), start=1)}
    last = folder / still_name(1.0)
    if not last.exists():
        produced = [p for p in numbered.values() if p.exists()]
        if not produced:
            raise FileNotFoundError("the encode produced no still at all")
        shutil.copyfile(produced[-1], last)
    paths = []
    for position in plan.pictures.positions:
        target = folder / still_name(position)
        if position < 1.0:
            made = numbered[plan.frames[position]]
            shutil.copyfile(made if made.exists() else last, target)
        paths.append(target)
    for made in numbered.values():
        made.unlink(missing_ok=True)
    return paths


def sprite_grid(tiles: int, columns: int) -> tuple[int, int]:
    """(columns, rows) of the sheet: at most `columns` across, no empty row."""
    across = max(1, min(columns, tiles))
    return across, max(1, math.ceil(tiles / across))


async def assemble_sprite(plan: ThumbnailPlan, folder: Path,
                          settings: CommonSettings | None = None) -> int:
    """Join the encode's tiles into `sprite.jpg`; returns how many tiles it holds."""
    tile_dir = folder / TILE_DIR
    tiles = sorted(tile_dir.glob("tile_*.jpg"))
    if not tiles:
        raise FileNotFoundError("the encode produced no storyboard tile")
    columns, rows = sprite_grid(len(tiles), plan.pictures.sprite_columns)
    await run_ffmpeg(["-framerate", "1", "-i", str(tile_dir / "tile_%05d.jpg"),
                      "-vf", f"tile={columns}x{rows}", "-frames:v", "1",
                      "-q:v", str(plan.pictures.jpeg_quality), str(folder / SPRITE)],
                     settings, name="sprite")
    shutil.rmtree(tile_dir)
    return len(tiles)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def storyboard_vtt(plan: ThumbnailPlan, tiles: int, duration_s: float,
                   sprite_url: str = SPRITE) -> str:
    """WebVTT mapping each tile's time range to `sprite.jpg#xywh=x,y,w,h`. Pure."""
    columns, _ = sprite_grid(tiles, plan.pictures.sprite_columns)
    tile_w, tile_h = plan.tile_size
    lines = ["WEBVTT", ""]
    for i in range(tiles):
        start = float(i * plan.tile_seconds)
        end = min(float((i + 1) * plan.tile_seconds), duration_s)
        if end <= start:
            break
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        lines += [f"{_timestamp(start)} --> {_timestamp(end)}",
                  f"{sprite_url}#xywh={x},{y},{tile_w},{tile_h}", ""]
    return "\n".join(lines)
