"""The topology, declared once: topic -> schema, key, partitions, retention, writer, readers.

A test (tests/unit/test_topology.py) checks that the services' code agrees with it: the
topics each service publishes and the topics each one consumes.

Kafka access is derived from it too (schemas/principals.py): every `writer` and every name
in `readers` is a service with its own principal (`User:<service>`, credentials made by
`reelflow stack up` and handed to the process of that name). A writer may produce only
its own topics; a reader may consume only the topics that list it, with the consumer group
of its own name. So a new topic, or a new service as its writer or reader, needs nothing
but its entry here. `external_writers` names principals outside Reelflow that may produce
a topic (`upstream` on `video-uploaded`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from schemas import events
from schemas.events import Record

SCHEMA_DIR = Path(__file__).resolve().parent
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class SchemaVersion:
    schema: str
    version: int
    definition: dict[str, Any]

    @property
    def definition_fields(self) -> frozenset[str]:
        return frozenset(f["name"] for f in self.definition["fields"])


E = TypeVar("E", bound=Record, covariant=True)


@dataclass(frozen=True)
class Topic(Generic[E]):
    """One topic. Generic in its event class, so `codec.decode(RENDITION_DONE, data)` is
    known to be a `RenditionDone`."""

    name: str
    schema: str
    key: str
    partitions: int
    retention_ms: int
    writer: str
    readers: tuple[str, ...]
    #: `cleanup.policy=compact`: the broker keeps the latest record per key.
    compacted: bool = False
    #: The class of this topic's events (schemas/events.py); the codec builds and checks it.
    event_type: type[E] = field(kw_only=True)
    #: Principals outside Reelflow that may also produce this topic (and nothing else).
    external_writers: tuple[str, ...] = field(default=(), kw_only=True)

    @property
    def versions(self) -> tuple[SchemaVersion, ...]:
        return schema_versions(self.schema)

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def config(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        cfg = {"retention.ms": str(self.retention_ms), "min.insync.replicas": "1"}
        if self.compacted:
            cfg["cleanup.policy"] = "compact"
        return cfg


@cache
def schema_versions(schema: str) -> tuple[SchemaVersion, ...]:
    folder = SCHEMA_DIR / schema
    found = []
    for path in folder.iterdir():
        match = _VERSION_FILE.match(path.name)
        if match:
            found.append(SchemaVersion(schema, int(match.group(1)), json.loads(path.read_text())))
    if not found:
        raise LookupError(f"no schema versions under {folder}")
    return tuple(sorted(found, key=lambda v: v.version))


# Keys: every video event is keyed by video_id (UUID string), so one video's events stay
# ordered on one partition. Partition counts match across the video topics so that a
# video lands on the same partition number everywhere.
VIDEO_PARTITIONS = 6

# Upstream services publish sources here themselves (README "Publishing video-uploaded
# yourself") as the `upstream` principal, which may produce this topic and no other.
VIDEO_UPLOADED = Topic(
    "video-uploaded", "video-uploaded", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="ingest", readers=("router", "transcode", "catalog", "ingest", "figures", "captions",
            "webhooks"),
    event_type=events.VideoUploaded, external_writers=("upstream",),
)
# The chunk workers (issue 16) follow it on every partition: a video's chunks are spread
# over their whole group, so each needs every cancellation. Transcode and captions follow
# it the same way, without a group (services/shared/cancellations.py): the lanes spread a
# video's job by worker slot, so its cancel's partition may belong to another member.
VIDEO_CANCELLED = Topic(
    "video-cancelled", "video-cancelled", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="ingest", readers=("router", "transcode", "catalog", "ingest", "figures", "captions",
            "webhooks", "chunks"),
    event_type=events.VideoCancelled,
)
TRANSCODE_PROGRESS = Topic(
    "transcode-progress", "transcode-progress", "video_id", VIDEO_PARTITIONS, 7 * DAY_MS,
    writer="transcode", readers=("catalog", "ingest", "webhooks"),
    event_type=events.TranscodeProgress,
)
RENDITION_DONE = Topic(
    "rendition-done", "rendition-done", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="transcode", readers=("packager", "catalog", "figures", "webhooks", "scoring"),
    event_type=events.RenditionDone,
)
TRANSCODE_FAILED = Topic(
    "transcode-failed", "stage-failed", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="transcode", readers=("catalog", "ingest", "figures", "webhooks"),
    event_type=events.StageFailed,
)
VIDEO_TRANSCODED = Topic(
    "video-transcoded", "video-transcoded", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="packager", readers=("catalog", "ingest", "figures", "webhooks"),
    event_type=events.VideoTranscoded,
)
PACKAGING_FAILED = Topic(
    "packaging-failed", "stage-failed", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="packager", readers=("catalog", "ingest", "figures", "webhooks"),
    event_type=events.StageFailed,
)
# Captions (issue 12): the captions stage announces its outputs (WebVTT, SRT, text, JSON)
# with the rendition-done record (media type CAPTIONS) on a topic of its own, so every
# topic keeps one writer; the packager adds them to the manifests, the catalog lists them.
CAPTIONS_DONE = Topic(
    "captions-done", "rendition-done", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="captions", readers=("packager", "catalog", "webhooks"),
    event_type=events.RenditionDone,
)
# Quality scoring, off the critical path (issue 16): the `scoring` group reads each video
# rung's rendition-done after the fact and announces its VMAF/PSNR/SSIM here; the catalog
# and the below-floor alert take the figures from this topic.
RENDITION_SCORED = Topic(
    "rendition-scored", "rendition-scored", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="scoring", readers=("catalog",),
    event_type=events.RenditionScored,
)
# The dead-letter topic is the one exception to "one writer": every consumer's shared
# consume loop writes there (so every principal that reads a topic may produce it).
# Keyed by the video id it names (the original key, by convention), else by its own id.
# The catalog projects it; the operator tools (`reelflow dlq`) list, show and redrive it.
DEAD_LETTER = Topic(
    "dead-letter", "dead-letter", "original key", 3, 90 * DAY_MS,
    writer="any consumer", readers=("catalog", "operations", "figures"),
    event_type=events.DeadLetter,
)

# API keys: one full-state snapshot per change, keyed by key_id, on a compacted topic (the
# latest snapshot of every key is kept forever). Ingest issues, revokes and touches keys;
# every service with an API (ingest, catalog) projects the topic into memory.
API_KEYS = Topic(
    "api-keys", "api-key", "key_id", 1, -1,
    writer="ingest", readers=("ingest", "catalog", "webhooks"), compacted=True,
    event_type=events.ApiKeyState,
)

# Protected playback (issue 14). Signing keys: one full-state snapshot per change, keyed
# by kid, compacted like api-keys; ingest creates and revokes them, ingest and the catalog
# project them into memory (public keys only: the private key never leaves the request that
# created it). A policy change after the upload is a video event of its own.
SIGNING_KEYS = Topic(
    "signing-keys", "signing-key", "kid", 1, -1,
    writer="ingest", readers=("ingest", "catalog"), compacted=True,
    event_type=events.SigningKeyState,
)
PLAYBACK_POLICY_CHANGED = Topic(
    "playback-policy-changed", "playback-policy-changed", "video_id", VIDEO_PARTITIONS,
    30 * DAY_MS, writer="ingest", readers=("catalog", "ingest"),
    event_type=events.PlaybackPolicyChanged,
)
# Content keys of encrypted attempts, wrapped under the key-encryption key: compacted,
# keyed by kid. The packager writes them (and re-wraps them in `reelflow keys rotate-kek`);
# the catalog keeps them in memory for the license service and CPIX.
CONTENT_KEYS = Topic(
    "content-keys", "content-key", "kid", 1, -1,
    writer="packager", readers=("catalog", "packager"), compacted=True,
    event_type=events.ContentKeyState,
)

# Webhooks (issue 13): every endpoint's configuration, one full-state snapshot per change
# keyed by endpoint_id on a compacted topic, as api-keys. The webhooks service is its one
# writer (its API, and the dispatcher when it disables an endpoint) and every webhooks
# process projects it into memory.
WEBHOOK_ENDPOINTS = Topic(
    "webhook-endpoints", "webhook-endpoint", "endpoint_id", 1, -1,
    writer="webhooks", readers=("webhooks",), compacted=True,
    event_type=events.WebhookEndpointState,
)

# Reprioritisation (issue 16, `PATCH /api/v1/videos/{id}`): the lane router moves the job
# it holds; the catalog projects it as a fact of the video's life (the priority its
# answers show, a timeline entry), so it is a pipeline topic; ingest's ledger reads its own
# changes back (the previous priority of the next change).
VIDEO_REPRIORITISED = Topic(
    "video-reprioritised", "video-reprioritised", "video_id", VIDEO_PARTITIONS, 30 * DAY_MS,
    writer="ingest", readers=("router", "catalog", "ingest"),
    event_type=events.VideoReprioritised,
)

#: The video pipeline's topics and dead-letter: what the catalog projects into Postgres.
PIPELINE_TOPICS: tuple[Topic[Record], ...] = (
    VIDEO_UPLOADED,
    VIDEO_CANCELLED,
    TRANSCODE_PROGRESS,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    VIDEO_TRANSCODED,
    PACKAGING_FAILED,
    RENDITION_SCORED,
    CAPTIONS_DONE,
    DEAD_LETTER,
    PLAYBACK_POLICY_CHANGED,
    VIDEO_REPRIORITISED,
)
# Split and stitch (issue 16): a long video's transcode publishes one job per chunk, keyed
# by chunk_id so the chunks spread over the partitions (and workers) of group `chunks`;
# each chunk worker announces its chunk's stored rungs, the checkpoint the transcode that
# planned the chunks waits for before it stitches the rungs. Work queues, not video facts:
# the catalog does not project them.
CHUNK_REQUESTED = Topic(
    "chunk-requested", "chunk-requested", "chunk_id", VIDEO_PARTITIONS, 7 * DAY_MS,
    writer="transcode", readers=("chunks",),
    event_type=events.ChunkRequested,
)
CHUNK_ENCODED = Topic(
    "chunk-encoded", "chunk-encoded", "video_id", VIDEO_PARTITIONS, 7 * DAY_MS,
    writer="chunks", readers=("transcode",),
    event_type=events.ChunkEncoded,
)
CHUNK_TOPICS: tuple[Topic[Record], ...] = (CHUNK_REQUESTED, CHUNK_ENCODED)


# -- Scheduling (issue 16): priority lanes, their router and reprioritisation ------------
# Upstream producers publish only `video-uploaded`. The lane router (services/router) is the
# one writer of the lanes: it holds every job per lane and tenant and forwards one to its
# lane topic when the transcode group has room there (admission by lane lag), in fair-share
# order. Transcode workers read the lanes, higher ones first (a weighted pick).
LANE_RETENTION_MS = 30 * DAY_MS
TRANSCODE_LANE_HIGH = Topic(
    "transcode-lane-high", "video-uploaded", "video_id", VIDEO_PARTITIONS, LANE_RETENTION_MS,
    writer="router", readers=("transcode", "router"), event_type=events.VideoUploaded,
)
TRANSCODE_LANE_NORMAL = Topic(
    "transcode-lane-normal", "video-uploaded", "video_id", VIDEO_PARTITIONS,
    LANE_RETENTION_MS, writer="router", readers=("transcode", "router"),
    event_type=events.VideoUploaded,
)
TRANSCODE_LANE_LOW = Topic(
    "transcode-lane-low", "video-uploaded", "video_id", VIDEO_PARTITIONS, LANE_RETENTION_MS,
    writer="router", readers=("transcode", "router"), event_type=events.VideoUploaded,
)
#: Highest first. Priorities 8-10 are high, 4-7 normal, 1-3 low (services/router/schedule).
LANE_TOPICS: tuple[Topic[Record], ...] = (TRANSCODE_LANE_HIGH, TRANSCODE_LANE_NORMAL,
                                          TRANSCODE_LANE_LOW)
# One snapshot per lane and change (compacted: the latest per lane is what counts); the
# catalog follows it in memory for queue positions and estimated starts.
LANE_QUEUE = Topic(
    "lane-queue", "lane-queue", "lane", 1, -1,
    writer="router", readers=("catalog",), compacted=True, event_type=events.LaneQueue,
)
#: `video-reprioritised` (above, with the pipeline topics) belongs to scheduling too.
SCHEDULING_TOPICS: tuple[Topic[Record], ...] = (*LANE_TOPICS, LANE_QUEUE)

#: Every topic: what the stack creates and the codec knows.
ALL_TOPICS: tuple[Topic[Record], ...] = (*PIPELINE_TOPICS, API_KEYS, SIGNING_KEYS,
                                        CONTENT_KEYS, WEBHOOK_ENDPOINTS, *CHUNK_TOPICS,
                                        *SCHEDULING_TOPICS)

@dataclass(frozen=True)
class Changelog:
    """A compacted topic that backs a stream app's state table: the app rebuilds the table
    from it at start. Its records are the app's own table entries (faust writes JSON), not
    events, so it has no Avro schema and no event class."""

    name: str
    key: str
    partitions: int
    writer: str
    readers: tuple[str, ...]
    compacted: bool = True
    external_writers: tuple[str, ...] = ()

    def config(self) -> dict[str, str]:
        return {"retention.ms": "-1", "min.insync.replicas": "1", "cleanup.policy": "compact"}


# The figures app's tables (services/figures). A table write goes to the changelog partition
# of the record that caused it, so each changelog has as many partitions as the topics that
# feed it (faust refuses a mismatch).
FIGURES_OWNERS = Changelog("figures-owners-changelog", "video_id", VIDEO_PARTITIONS,
                           writer="figures", readers=("figures",))
FIGURES_WINDOWS = Changelog("figures-windows-changelog", "window key", VIDEO_PARTITIONS,
                            writer="figures", readers=("figures",))
FIGURES_DEAD_LETTERS = Changelog("figures-dead-letters-changelog", "window key",
                                 DEAD_LETTER.partitions, writer="figures",
                                 readers=("figures",))
CHANGELOG_TOPICS: tuple[Changelog, ...] = (FIGURES_OWNERS, FIGURES_WINDOWS,
                                           FIGURES_DEAD_LETTERS)
#: What the local stack creates: every event topic and every changelog.
STACK_TOPICS: tuple[Topic[Record] | Changelog, ...] = (*ALL_TOPICS, *CHANGELOG_TOPICS)


def topic_by_name(name: str) -> Topic[Record]:
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"unknown topic {name!r}")
