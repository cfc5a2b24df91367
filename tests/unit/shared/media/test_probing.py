"""When ingest's one ffprobe run settles the decode check itself (`decoded_in_probe`), and
when the separate ffmpeg check must still run: only a decode that shows what that check
would see skips it, so no verdict changes."""

from __future__ import annotations

import pytest

from services.shared.media.probe_parser import parse_probe
from services.shared.media.probing import decoded_in_probe
from tests.unit.shared.media.probe_samples import probe_json


def counted(read: object, decoded: object) -> dict:
    data = probe_json(nb_read_packets=read, nb_read_frames=decoded)
    data["streams"][1].update(nb_read_packets="15", nb_read_frames="15")
    return data


@pytest.mark.parametrize("read, decoded, settled", [
    ("9", "9", True),  # every video packet of the window decoded
    ("5", "5", True),  # exactly the frames asked for
    ("4", "4", False),  # too few in the window (coarse interleaving, a short clip)
    ("9", "0", False),  # nothing decoded (open-GOP leading pictures, a newer codec...)
    ("15", "5", True),  # 10 frameless: even all first, 10/15 is not over ffmpeg's 2/3
    ("16", "5", False),  # 11 frameless could be: 11/16 is over, so ask ffmpeg
    (None, None, False),  # a probe that did not count (the transcoder's)
    ("N/A", "N/A", False),
])
def test_the_probe_settles_the_decode_check_only_when_ffmpeg_would_agree(read, decoded,
                                                                         settled):
    assert decoded_in_probe(parse_probe(counted(read, decoded)), frames=5) is settled


def test_the_counts_are_the_picked_video_streams():
    data = counted("9", "9")
    cover = {"index": 2, "codec_type": "video", "codec_name": "mjpeg", "width": 600,
             "height": 600, "disposition": {"attached_pic": 1}, "nb_read_packets": "0",
             "nb_read_frames": "0"}
    data["streams"].insert(0, cover)
    assert decoded_in_probe(parse_probe(data), frames=5)


def test_audio_only_and_zero_frames_asked_never_settle():
    audio_only = counted("9", "9")
    del audio_only["streams"][0]
    assert not decoded_in_probe(parse_probe(audio_only), frames=5)
    assert not decoded_in_probe(parse_probe(counted("9", "9")), frames=0)

