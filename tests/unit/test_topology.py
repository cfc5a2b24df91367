"""The topology is declared once, in schemas/registry.py, and the code agrees with it."""

import re
from pathlib import Path

import schemas
from schemas import ALL_TOPICS, API_KEYS, DEAD_LETTER, PIPELINE_TOPICS

SERVICES = Path(__file__).resolve().parents[2] / "services"
PUBLISH = re.compile(r"\.publish\(\s*([A-Z_]+)\b")
APPLICATION_SERVICES = ("ingest", "transcode", "packager", "catalog")


def published_topics(service: str) -> set[str]:
    found = set()
    for path in (SERVICES / service).rglob("*.py"):
        for constant in PUBLISH.findall(path.read_text()):
            found.add(getattr(schemas, constant).name)
    return found


def test_each_topic_has_exactly_the_writer_the_registry_declares():
    for service in APPLICATION_SERVICES:
        declared = {t.name for t in ALL_TOPICS if t.writer == service}
        # dead-letter is the one shared topic: any consumer may dead-letter what it reads.
        assert published_topics(service) - {DEAD_LETTER.name} == declared, service


def test_no_service_spells_a_topic_name_itself():
    names = {t.name for t in ALL_TOPICS}
    for path in SERVICES.rglob("*.py"):
        text = path.read_text()
        for name in names:
            assert f'"{name}"' not in text and f"'{name}'" not in text, f"{path}: {name}"


def test_video_topics_share_a_partition_count_and_keep_a_video_on_one_partition():
    video_topics = [t for t in ALL_TOPICS if t.key == "video_id"]
    assert {t.partitions for t in video_topics} == {video_topics[0].partitions}
    assert video_topics[0].partitions >= 6


def test_every_event_schema_carries_ids_time_and_trace_context():
    for topic in ALL_TOPICS:
        fields = topic.latest.definition_fields
        assert {"event_id", "occurred_at", "traceparent"} <= fields, topic.name
        if topic.key == "video_id":
            assert "video_id" in fields, topic.name


def test_every_topic_is_keyed_by_a_field_of_its_schema():
    for topic in ALL_TOPICS:
        if topic is DEAD_LETTER:
            continue  # keyed by the original record's key
        assert topic.key in topic.latest.definition_fields, topic.name


def test_api_keys_live_on_a_compacted_topic_written_by_ingest_and_read_by_both_apis():
    assert API_KEYS in ALL_TOPICS and API_KEYS not in PIPELINE_TOPICS
    assert API_KEYS.compacted and API_KEYS.config()["cleanup.policy"] == "compact"
    assert API_KEYS.key == "key_id" and API_KEYS.writer == "ingest"
    assert set(API_KEYS.readers) == {"ingest", "catalog"}
    fields = API_KEYS.latest.definition_fields
    assert {"name", "key_sha256", "active", "rate_limit_per_hour", "created_at", "revoked_at",
            "last_used_at"} <= fields
    assert not {"key", "api_key", "secret"} & fields  # never the clear key


def test_only_compacted_topics_carry_a_cleanup_policy():
    for topic in ALL_TOPICS:
        assert ("cleanup.policy" in topic.config()) == topic.compacted, topic.name
