"""The `SourceInfo` record a probed source becomes: one spelling for ingest (which declares
it on `video-uploaded`) and transcode (which reports what it measured on `rendition-done`)."""

from __future__ import annotations

from schemas.events import AudioStreamInfo, SourceInfo, VideoStreamInfo
from services.shared.media.rules import ProbeFacts


def source_info(probe: ProbeFacts) -> SourceInfo:
    video, audio = probe.video, probe.audio
    return SourceInfo(
        container=probe.container,
        duration_seconds=float(probe.duration),
        bitrate=probe.bitrate,
        video=None if video is None else VideoStreamInfo(
            codec=video.codec, width=video.width, height=video.height, fps=video.fps,
            bitrate=video.bitrate, pix_fmt=video.pix_fmt),
        audio=None if audio is None else AudioStreamInfo(
            codec=audio.codec, channels=audio.channels, sample_rate=audio.sample_rate,
            bitrate=audio.bitrate),
    )
