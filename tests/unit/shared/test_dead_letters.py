"""The one dead-letter id rule, checked against uuid5 computed here, not by the code."""

import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from services.shared.dead_letters import dead_letter_event, dead_letter_headers, dead_letter_id

# services.shared.events' namespace, written down: ids must never change between releases.
NAMESPACE = uuid.UUID("6f1d1c52-8a4e-4c53-9d5e-2b7a1f0c9e11")


def _record(headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(topic="video-uploaded", partition=3, offset=41, timestamp=1700000000000,
                          timestamp_type=0, key=b"vid", value=b"\x00junk", checksum=None,
                          serialized_key_size=3, serialized_value_size=5,
                          headers=headers or [])


def test_the_id_names_the_record_the_group_and_the_redrive() -> None:
    expected = uuid.uuid5(NAMESPACE, "video-uploaded/3/41:transcode:dead-lettered:0")
    assert dead_letter_id("video-uploaded", 3, 41, "transcode", 0) == str(expected)


def test_two_groups_dead_lettering_one_record_are_two_facts() -> None:
    assert (dead_letter_id("video-uploaded", 3, 41, "transcode", 0)
            != dead_letter_id("video-uploaded", 3, 41, "catalog", 0))


def test_a_redriven_copy_failing_again_is_a_new_fact() -> None:
    assert (dead_letter_id("video-uploaded", 3, 41, "catalog", 0)
            != dead_letter_id("video-uploaded", 3, 41, "catalog", 1))


def test_the_event_uses_the_rule_with_the_redrive_count_from_the_headers() -> None:
    event = dead_letter_event(_record([("reelflow-redrive-count", b"2")]), "catalog",
                              "undecodable", ValueError("bad magic"), 1, "vid")
    assert event.event_id == str(uuid.uuid5(
        NAMESPACE, "video-uploaded/3/41:catalog:dead-lettered:2"))
    assert event.redrive_count == 2
    assert event.error_class == "builtins.ValueError"
    assert event.original_value == b"\x00junk"
    assert event.original_timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert [(h.key, h.value) for h in event.original_headers] == [
        ("reelflow-redrive-count", b"2")]


def test_headers_follow_kafka_connect_and_spring_conventions() -> None:
    headers = dict(dead_letter_headers(_record(), "catalog", "undecodable", ValueError("bad")))
    assert headers["__connect.errors.topic"] == b"video-uploaded"
    assert headers["__connect.errors.partition"] == b"3"
    assert headers["__connect.errors.offset"] == b"41"
    assert headers["__connect.errors.exception.class.name"] == b"builtins.ValueError"
    assert headers["kafka_dlt-original-consumer-group"] == b"catalog"
    assert headers["kafka_dlt-original-timestamp"] == b"1700000000000"
    assert headers["reelflow-error-code"] == b"undecodable"
