"""The producer's choice of a record's Kafka key (`producer.record_key`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas import DEAD_LETTER, VIDEO_CANCELLED
from schemas.events import DeadLetter, VideoCancelled
from services.shared.producer import record_key

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _letter(video_id: str | None) -> DeadLetter:
    return DeadLetter(event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=NOW,
                      original_topic="video-uploaded", original_partition=3,
                      original_offset=16, consumer_group="catalog", error_code="not_avro",
                      error_class="NotAvroSingleObject", error_message="not Avro",
                      attempts=1)


def test_a_video_event_is_keyed_by_its_video_id() -> None:
    video_id = str(uuid.uuid4())
    event = VideoCancelled(event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=NOW)
    assert record_key(VIDEO_CANCELLED, event) == video_id.encode()


def test_a_dead_letter_is_keyed_by_the_video_it_names_else_by_its_own_id() -> None:
    named = _letter(video_id="a-video")
    assert record_key(DEAD_LETTER, named) == b"a-video"
    # Every copy of one dead letter has the same id: one key, one partition, one order.
    anonymous = _letter(video_id=None)
    assert record_key(DEAD_LETTER, anonymous) == anonymous.event_id.encode()
    assert record_key(DEAD_LETTER, anonymous.replace(occurred_at=NOW.replace(hour=1))) == (
        anonymous.event_id.encode())
