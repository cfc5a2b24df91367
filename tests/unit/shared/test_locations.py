"""Server locations never reach text users read: ffmpeg's and Python's own words (recorded
from real runs) lose their directories and URLs, and keep everything else."""

from __future__ import annotations

import pytest

from services.shared.locations import placeholder, redact, scrub

JOB = "/srv/reelflow/.reelflow/transcode-work/0b9d6c1e-1"


@pytest.mark.parametrize(("text", "expected"), [
    # ffprobe 5.1 on a truncated MP4
    (f"{JOB}/source: Invalid data found when processing input",
     "source: Invalid data found when processing input"),
    # ffmpeg 9 when an output directory is missing
    (f"[out#0/mp4 @ 0x5581e0c0] Error opening output {JOB}/out/360p.mp4: "
     "No such file or directory",
     "[out#0/mp4 @ 0x5581e0c0] Error opening output 360p.mp4: No such file or directory"),
    # Python's OSError
    (f"[Errno 28] No space left on device: '{JOB}/source'",
     "[Errno 28] No space left on device: 'source'"),
    # botocore on a dead endpoint, with a presigned query string
    ('Could not connect to the endpoint URL: "http://127.0.0.1:18333/reelflow/sources/x/'
     'original?X-Amz-Signature=abc"', 'Could not connect to the endpoint URL: "input"'),
    (f"cannot open ({JOB}/quality/ref.y4m)", "cannot open (ref.y4m)"),
])
def test_paths_and_urls_are_replaced_by_their_last_names(text, expected):
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "frame rate 30000/1001, sar 16:15, Input/output error, duration N/A",
    "[h264 @ 0x55] left block unavailable for requested intra mode at 0 24",
    "a / b",
    "moov atom not found",
])
def test_text_without_locations_is_unchanged(text):
    assert scrub(text) == text


def test_known_locations_are_replaced_even_with_spaces_in_them():
    source = "/srv/my videos/cat clip.mp4"
    assert scrub(f"Error opening input file {source}.", [source, "-f", "null"]) == \
        "Error opening input file cat clip.mp4."


def test_placeholders_and_redaction():
    assert placeholder(f"{JOB}/out/720p.mp4") == "720p.mp4"
    assert placeholder("https://s3.example/bucket/key?X-Amz-Credential=secret") == "input"
    assert placeholder("/") == "input"
    assert redact("http://h/b/k?X-Amz-Signature=s") == "http://h/b/k"
    assert redact("/plain/path?odd") == "/plain/path?odd"
