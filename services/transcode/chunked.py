"""Split and stitch, the ffmpeg side: what a chunk worker runs for one chunk, what the
transcode that planned the chunks runs for the whole video, and how it stitches. Pure: each
builder returns arguments and where the outputs land; nothing runs here.

* A chunk: every video rung of the plan over the chunk's frames, one decode for all of them,
  with exactly the filters and rung options of the unchunked encode (`encode`), video only.
  Input seeking to the chunk's first frame restarts timestamps at 0, so the 2 s keyframe
  rule falls on the same frames as in the whole video (chunks start on segment edges).
* The whole video, once: the AAC `audio` rendition and the MP3 (audio is encoded once for
  the whole video, so there is no AAC priming at chunk edges to handle), one AAC track per
  distinct rung audio setting (each progressive MP4 keeps its rung's audio), and the
  thumbnails, sprite tiles and stills, from one decode.
* Stitching a rung: ffmpeg's concat demuxer over the chunk files, with stream copy (no
  second encode), plus the rung's audio track; timestamps run on across the chunks because
  each chunk holds exactly its frames at the constant frame rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python: builds the filter graph and argv, runs nothing

from services.shared.media.probe_parser import SourceProbe
from services.transcode import ladder
from services.transcode import thumbnails as thumbs
from services.transcode.chunking import Chunk
from services.transcode.encode import (
    _CLEAN,
    _MP4,
    THUMBNAIL_DIR,
    EncodeJob,
    _audio_options,
    _video_options,
    audio_outputs,
    channels_of,
    rung_picture,
    source_picture,
)
from services.transcode.ladder import LadderPlan, VideoTarget


def chunk_file(workdir: Path, rendition: str) -> Path:
    return workdir / f"{rendition}.mp4"


def build_chunk_encode(source: Path, workdir: Path, plan: LadderPlan, probe: SourceProbe,
                       chunk: Chunk, targets: tuple[VideoTarget, ...]) -> EncodeJob:
    """The one ffmpeg run encoding `targets` over `chunk`'s frames of `source`."""
    assert probe.video is not None and plan.frame_rate is not None and targets
    start = chunk.start_frame / float(plan.frame_rate)
    inp = ffmpeg.input(str(source), ss=f"{start:.6f}") if start else ffmpeg.input(str(source))
    picture = source_picture(inp[str(probe.video.index)], probe, plan)
    branches = picture.filter_multi_output("split", len(targets))
    outputs, files = [], {}
    for i, target in enumerate(targets):
        files[target.name] = chunk_file(workdir, target.name)
        options = {**_video_options(plan.profile, target, plan), "f": "mp4", **_CLEAN,
                   # Exactly the chunk's frames: the next chunk starts with the next one.
                   "frames:v": chunk.frame_count}
        outputs.append(ffmpeg.output(rung_picture(branches[i], target),
                                     str(files[target.name]), **options))
    return EncodeJob(ffmpeg.merge_outputs(*outputs).get_args(), files, None)


def rung_audio_key(target: VideoTarget) -> str:
    """The `files` key of the AAC track a rung's progressive MP4 carries."""
    return f"rung-audio:{target.rung.audio_kbps}k:{target.rung.audio_rate}"


def build_whole_video(source: Path, workdir: Path, plan: LadderPlan,
                      probe: SourceProbe) -> EncodeJob:
    """Audio (the `audio` rendition, the MP3, each rung's AAC track) and the thumbnails of
    the whole video, in one ffmpeg run; the rungs themselves come from the chunks."""
    inp = ffmpeg.input(str(source))
    outputs: list[Any] = []
    files: dict[str, Path] = {}
    thumb_plan = None
    if probe.audio is not None and plan.audio:
        audio = inp[str(probe.audio.index)]
        channels = channels_of(probe)
        outputs += audio_outputs(audio, plan, channels, workdir, files)
        for target in plan.videos:
            key = rung_audio_key(target)
            if key not in files:
                files[key] = workdir / f"rung-audio-{target.rung.audio_kbps}k-" \
                                       f"{target.rung.audio_rate}.m4a"
                outputs.append(ffmpeg.output(
                    audio, str(files[key]), **_MP4,
                    **_audio_options(target.rung.audio_kbps, target.rung.audio_rate,
                                     channels)))
    if plan.videos and probe.video is not None and plan.thumbnails:
        assert plan.frame_rate is not None
        top = max(plan.videos, key=lambda v: v.width * v.height)
        thumb_plan = thumbs.plan_thumbnails(plan.profile.pictures, plan.frame_rate,
                                            probe.video_duration, (top.width, top.height))
        folder = workdir / THUMBNAIL_DIR
        files[ladder.THUMBNAILS] = folder
        branches = source_picture(inp[str(probe.video.index)], probe, plan) \
            .filter_multi_output("split", 3)
        outputs += thumbs.thumbnail_outputs([branches[0], branches[1], branches[2]],
                                            thumb_plan, folder)
    if not outputs:
        raise ValueError("the plan has nothing to encode from the whole video")
    return EncodeJob(ffmpeg.merge_outputs(*outputs).get_args(), files, thumb_plan)


def concat_list(paths: list[Path]) -> str:
    """The concat demuxer's list file: one `file '<path>'` line per chunk, in order."""
    return "".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in paths)


def stitch_args(list_file: Path, audio: Path | None, out: Path) -> list[str]:
    """A rung's progressive MP4 from its chunks (stream copy) and its audio track."""
    args = ["-f", "concat", "-safe", "0", "-i", str(list_file)]
    if audio is not None:
        args += ["-i", str(audio)]
    args += ["-map", "0:v:0"]
    if audio is not None:
        args += ["-map", "1:a:0"]
    return [*args, "-c", "copy", "-f", "mp4", "-movflags", "+faststart",
            "-map_metadata", "-1", "-map_chapters", "-1", str(out)]
