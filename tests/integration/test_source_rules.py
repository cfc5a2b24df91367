"""The pipeline's content rules on the way in that skips ingest: an upstream service stores
a source in S3 and publishes `video-uploaded` itself. Transcode judges it by the same rules
(and codes) as an HTTP upload, and what the catalog says about a failure names no file or
URL of the server."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import DEAD_LETTER, VIDEO_UPLOADED
from schemas.events import DeadLetter, VideoUploaded
from services.shared.settings import CommonSettings
from services.shared.storage import ObjectStore
from tests.integration.test_pipeline import wait_for_status
from tests.integration.test_transcode_resilience import codec, publish_upload, read_topic
from tests.media import make_clip

pytestmark = pytest.mark.integration


def publish_source(settings: CommonSettings, data: bytes) -> tuple[str, bytes]:
    """Store `data` as an upstream service would and publish a minimal `video-uploaded`
    (only the required fields and a checksum): (video id, the record's bytes)."""
    store = ObjectStore(settings)
    video_id = str(uuid.uuid4())
    ref = store.ref(f"sources/{video_id}/original")
    store.put_bytes(data, ref, "video/mp4")
    event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                          occurred_at=datetime.now(UTC), source_uri=ref.uri,
                          source_sha256=hashlib.sha256(data).hexdigest(),
                          user_metadata_json=json.dumps({"title": "from upstream"}))
    return video_id, publish_upload(settings.kafka_bootstrap, event)


def transcode_dead_letters(settings: CommonSettings, video_id: str) -> list[DeadLetter]:
    def keep(record):  # type: ignore[no-untyped-def]
        letter = codec.decode(DEAD_LETTER, record.value)
        return letter if letter.video_id == video_id \
            and letter.consumer_group == "transcode" else None
    return read_topic(settings.kafka_bootstrap, DEAD_LETTER.name, keep, bool)


def test_an_upstream_320x240_clip_fails_as_too_low_like_an_upload_is_refused(
        pipeline, common_settings, tmp_path):
    clip = make_clip(tmp_path / "small.mp4", 320, 240, seconds=2)
    video_id, value = publish_source(common_settings, clip.read_bytes())

    video = wait_for_status(video_id, {"ready", "failed"}, timeout=90)
    assert video["status"] == "failed", video
    assert video["error"] == {"stage": "transcode", "code": "resolution_too_low",
                              "message": "source is 320x240; the minimum is 640x360"}, video
    letters = transcode_dead_letters(common_settings, video_id)
    assert len(letters) == 1, letters
    assert letters[0].error_code == "resolution_too_low"
    assert letters[0].original_topic == VIDEO_UPLOADED.name
    assert letters[0].original_value == value


def test_a_corrupt_upstream_source_fails_with_a_reason_naming_no_server_path(
        pipeline, common_settings, tmp_path):
    # moov atom last (no faststart): half the file has no index, so ffprobe cannot read it
    # and says so naming the file it was given, a path in transcode's scratch directory.
    whole = make_clip(tmp_path / "whole.mp4", 640, 360, seconds=3).read_bytes()
    video_id, _ = publish_source(common_settings, whole[: len(whole) // 2])

    video = wait_for_status(video_id, {"ready", "failed"}, timeout=90)
    assert video["status"] == "failed", video
    assert video["error"]["code"] == "undecodable_source", video
    message = video["error"]["message"]
    state_dir = str(Path(common_settings.state_dir).resolve())
    assert message.startswith("the source is not usable media: ffprobe cannot read the source")
    for server_detail in (state_dir, "transcode-work", "http://", "https://", video_id):
        assert server_detail not in message, message
    letters = transcode_dead_letters(common_settings, video_id)
    assert len(letters) == 1 and letters[0].error_message == message, letters
