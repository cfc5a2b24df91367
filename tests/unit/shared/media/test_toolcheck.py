"""Reading the ffmpeg version from its banner."""

from __future__ import annotations

from services.shared.media.toolcheck import parse_version


def test_ffmpeg_version_parsing():
    assert parse_version("ffmpeg version n9.0.2-17-g2a571b6 Copyright")[1] == 9
    assert parse_version("ffmpeg version 5.1.9-0+deb12u1 Copyright")[1] == 5
    git = "ffmpeg version N-118000-gabc Copyright\nlibavcodec     61. 19.100 / 61. 19.100\n"
    assert parse_version(git)[1] == 7
    assert parse_version("nonsense")[1] is None
