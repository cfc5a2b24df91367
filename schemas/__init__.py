"""Reelflow's event contracts: every topic, its Avro schema versions and its key.

This package is the only place a topic name or an event's fields are written down.
Services import the `Topic` constants below; `schemas/<schema>/vN.avsc` holds every
version ever released, and the highest N is what services write and read into.
"""

from schemas.registry import (
    ALL_TOPICS,
    API_KEYS,
    CAPTIONS_DONE,
    CHANGELOG_TOPICS,
    CONTENT_KEYS,
    DEAD_LETTER,
    FIGURES_DEAD_LETTERS,
    FIGURES_OWNERS,
    FIGURES_WINDOWS,
    PACKAGING_FAILED,
    PIPELINE_TOPICS,
    PLAYBACK_POLICY_CHANGED,
    RENDITION_DONE,
    SIGNING_KEYS,
    STACK_TOPICS,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    WEBHOOK_ENDPOINTS,
    SchemaVersion,
    Topic,
    schema_versions,
    topic_by_name,
)

__all__ = [
    "ALL_TOPICS",
    "CAPTIONS_DONE",
    "API_KEYS",
    "CHANGELOG_TOPICS",
    "CONTENT_KEYS",
    "DEAD_LETTER",
    "FIGURES_DEAD_LETTERS",
    "FIGURES_OWNERS",
    "FIGURES_WINDOWS",
    "PACKAGING_FAILED",
    "PIPELINE_TOPICS",
    "PLAYBACK_POLICY_CHANGED",
    "RENDITION_DONE",
    "SIGNING_KEYS",
    "STACK_TOPICS",
    "TRANSCODE_FAILED",
    "TRANSCODE_PROGRESS",
    "VIDEO_CANCELLED",
    "VIDEO_TRANSCODED",
    "VIDEO_UPLOADED",
    "WEBHOOK_ENDPOINTS",
    "SchemaVersion",
    "Topic",
    "schema_versions",
    "topic_by_name",
]
