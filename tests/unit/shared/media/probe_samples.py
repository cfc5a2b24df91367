"""ffprobe JSON of a typical 1080p H.264 clip with AAC audio, for the probe parser's and
the ladder's tests."""

from __future__ import annotations


def probe_json(**video: object) -> dict:
    stream = {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 1920,
              "height": 1080, "avg_frame_rate": "30000/1001", "r_frame_rate": "30000/1001",
              "pix_fmt": "yuv420p", "duration": "10.0", **video}
    audio = {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2,
             "sample_rate": "48000", "profile": "LC"}
    return {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "10.01",
                       "bit_rate": "5000000", "size": "6256250"},
            "streams": [stream, audio]}
