"""Every media failure message that can reach a user (an API answer, a failure event, the
catalog) names no server path and no presigned URL: inputs go by a label, and ffmpeg's
stderr is scrubbed by the runner before it becomes part of an error."""

from __future__ import annotations

import asyncio

import pytest

from services.packager.cmaf import SegmentingFailed, TrackHeader, read_segment
from services.shared.media.errors import FfmpegError, ProbeError
from services.shared.media.probe_parser import parse_probe
from services.shared.media.process import FfmpegRun
from services.shared.media.toolcheck import FfmpegInfo

JOB = "/srv/reelflow/.reelflow/transcode-work/0b9d6c1e-1"
URL = "http://127.0.0.1:18333/reelflow/sources/0b9d6c1e/original?X-Amz-Signature=secret"


def assert_names_no_location(message: str) -> None:
    for detail in ("/srv", "transcode-work", "http://", "X-Amz"):
        assert detail not in message, message


@pytest.mark.parametrize("data", [
    {},
    {"format": {"format_name": "mov"}, "streams": []},
    {"format": {"format_name": "image2", "duration": "0.04"},
     "streams": [{"index": 0, "codec_type": "video", "width": 2, "height": 2}]},
    {"format": {"format_name": "mov"},
     "streams": [{"index": 0, "codec_type": "audio", "channels": 2}]},
])
def test_probe_failures_name_the_input_by_its_label(data):
    with pytest.raises(ProbeError) as caught:
        parse_probe(data, "the source")
    assert "the source" in str(caught.value)
    assert_names_no_location(str(caught.value))


def test_a_failed_run_reports_ffmpeg_s_words_without_our_paths():
    run = FfmpegRun(["ffmpeg", "-i", URL, f"{JOB}/out/360p.mp4"], name="encode")
    run.stderr_tail.extend([f"{URL.split('?')[0]}: Server returned 403 Forbidden",
                            f"Error opening output {JOB}/out/360p.mp4: Permission denied"])
    error = FfmpegError("encode exited with 1", stderr_tail=run.scrubbed_stderr())
    assert str(error) == ("encode exited with 1: input: Server returned 403 Forbidden | "
                          "Error opening output 360p.mp4: Permission denied")
    # The log line keeps the command (without credentials) for the operator.
    assert "X-Amz" not in run.command and JOB in run.command


def test_a_binary_that_cannot_start_is_named_without_its_directory(tmp_path):
    missing = tmp_path / "bin" / "ffmpeg-nowhere"

    async def start() -> None:
        await FfmpegRun([str(missing), "-version"]).start()

    with pytest.raises(FfmpegError) as caught:
        asyncio.run(start())
    assert "ffmpeg-nowhere" in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_a_missing_encoder_names_the_binary_not_its_path():
    info = FfmpegInfo("/opt/venv/lib/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64", "9.0", 9,
                      frozenset({"libx264"}), frozenset())
    with pytest.raises(FfmpegError) as caught:
        info.require(encoders=["libsvtav1"])
    assert str(caught.value) == "ffmpeg-linux-x86_64 (FFmpeg 9.0) lacks encoder libsvtav1"


def test_a_segment_without_fragments_is_named_by_rendition_and_file(tmp_path):
    segment = tmp_path / "job" / "out" / "720p" / "seg_00001.m4s"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"")
    header = TrackHeader(90000, "vide", "avc1", None, None, None, 0, 0, 0)
    with pytest.raises(SegmentingFailed) as caught:
        read_segment(segment, header)
    assert str(caught.value) == "720p/seg_00001.m4s: no movie fragment"

