"""Principals and ACLs from the registry: each principal may do what the registry says of it,
and nothing more. The expectations are written out by hand from the README's topology table
(the oracle), not computed from the registry."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import STACK_TOPICS
from schemas.principals import Acl, acls, consumers, principals


def _allowed(rules: frozenset[Acl], principal: str, resource: str, operation: str) -> set[str]:
    return {r.name for r in rules if r.principal == principal and r.resource == resource
            and r.operation == operation}


RULES = acls(STACK_TOPICS)

#: Who writes what, from the README's table (dead-letter: every consumer).
WRITES = {
    "ingest": {"video-uploaded", "video-cancelled", "api-keys", "signing-keys",
               "playback-policy-changed", "video-reprioritised", "dead-letter"},
    "transcode": {"rendition-done", "transcode-progress", "transcode-failed", "chunk-requested",
                  "dead-letter"},
    "scoring": {"rendition-scored", "dead-letter"},
    "chunks": {"chunk-encoded", "dead-letter"},
    "packager": {"video-transcoded", "packaging-failed", "content-keys", "dead-letter"},
    "catalog": {"dead-letter"},
    "figures": {"figures-owners-changelog", "figures-windows-changelog",
                "figures-dead-letters-changelog", "dead-letter"},
    "captions": {"captions-done", "dead-letter"},
    "upstream": {"video-uploaded"},
    "webhooks": {"webhook-endpoints", "dead-letter"},
    "router": {"transcode-lane-high", "transcode-lane-normal", "transcode-lane-low",
               "lane-queue", "dead-letter"},
}
READS = {
    "ingest": {"api-keys", "signing-keys", "playback-policy-changed", "video-uploaded",
               "video-cancelled", "video-transcoded", "transcode-failed", "packaging-failed",
               "transcode-progress", "video-reprioritised"},
    "transcode": {"video-uploaded", "video-cancelled", "chunk-encoded", "transcode-lane-high",
                  "transcode-lane-normal", "transcode-lane-low"},
    "router": {"video-uploaded", "video-cancelled", "video-reprioritised",
               "transcode-lane-high", "transcode-lane-normal", "transcode-lane-low"},
    "packager": {"rendition-done", "captions-done", "content-keys"},
    "captions": {"video-uploaded", "video-cancelled"},
    "scoring": {"rendition-done"},
    "chunks": {"chunk-requested", "video-cancelled"},
    "figures": {"video-uploaded", "video-cancelled", "rendition-done", "transcode-failed",
                "video-transcoded", "packaging-failed", "dead-letter",
                "figures-owners-changelog", "figures-windows-changelog",
                "figures-dead-letters-changelog"},
    "upstream": set(),
    "webhooks": {"api-keys", "webhook-endpoints", "video-uploaded", "video-cancelled",
                 "transcode-progress", "rendition-done", "captions-done", "transcode-failed",
                 "video-transcoded", "packaging-failed"},
}


def test_every_service_upstream_and_the_operator_tools_are_principals() -> None:
    assert set(principals(STACK_TOPICS)) >= {"ingest", "transcode", "packager", "catalog",
                                             "figures", "upstream", "operations"}
    assert "any consumer" not in principals(STACK_TOPICS)


def test_a_writer_may_produce_only_its_own_topics_and_dead_letter() -> None:
    for principal, topics in WRITES.items():
        assert _allowed(RULES, principal, "topic", "WRITE") == topics, principal


def test_a_reader_may_consume_only_its_own_topics_with_its_own_group() -> None:
    for principal, topics in READS.items():
        assert _allowed(RULES, principal, "topic", "READ") == topics, principal
        groups = _allowed(RULES, principal, "group", "READ")
        assert groups == (set() if principal == "upstream" else {principal}), principal


#: The lane router's topics the catalog does not read: the lanes repeat `video-uploaded`
#: for the workers. It reads `video-reprioritised` (the priority its answers show) and the
#: router's `lane-queue` snapshots (queue positions).
SCHEDULING_ONLY = {"transcode-lane-high", "transcode-lane-normal", "transcode-lane-low"}


def test_the_catalog_reads_every_event_topic_and_describes_what_lag_needs() -> None:
    # Every topic but the figures' changelogs, the webhooks service's own endpoints and
    # split and stitch's work queues (chunk jobs and checkpoints), and the lane router's
    # topics the catalog learns through lane-queue.
    events = {t.name for t in STACK_TOPICS if not t.name.startswith(("figures-", "chunk-"))
              and t.name != "webhook-endpoints" and t.name not in SCHEDULING_ONLY}
    assert _allowed(RULES, "catalog", "topic", "READ") == events
    assert _allowed(RULES, "catalog", "topic", "DESCRIBE") == {"*"}
    assert _allowed(RULES, "catalog", "group", "DESCRIBE") == {"*"}
    assert _allowed(RULES, "catalog", "group", "READ") == {"catalog"}


def test_a_reprioritisation_is_written_by_ingest_and_read_by_the_router_the_catalog_and_ingest(
        ) -> None:
    readers = {r.principal for r in RULES if r.name == "video-reprioritised"
               and r.operation == "READ"}
    assert readers == {"router", "catalog", "ingest", "operations"}


def test_the_router_may_look_at_the_transcode_group_and_no_other() -> None:
    assert _allowed(RULES, "router", "group", "DESCRIBE") == {"transcode"}
    assert _allowed(RULES, "router", "group", "READ") == {"router"}
    assert not _allowed(RULES, "transcode", "group", "DESCRIBE")


def test_only_the_apis_read_api_keys_and_only_ingest_writes_them() -> None:
    readers = {r.principal for r in RULES if r.name == "api-keys" and r.operation == "READ"}
    writers = {r.principal for r in RULES if r.name == "api-keys" and r.operation == "WRITE"}
    assert readers == {"ingest", "catalog", "webhooks", "operations"}
    assert writers == {"ingest", "operations"}


def test_the_webhooks_dispatcher_may_describe_the_catalogs_group_and_no_other() -> None:
    assert _allowed(RULES, "webhooks", "group", "DESCRIBE") == {"catalog"}
    assert _allowed(RULES, "webhooks", "group", "READ") == {"webhooks"}
    assert not _allowed(RULES, "webhooks", "topic", "DESCRIBE")


def test_the_operator_tools_read_and_redrive_every_topic_and_move_any_group() -> None:
    names = {t.name for t in STACK_TOPICS}
    assert _allowed(RULES, "operations", "topic", "READ") == names
    assert _allowed(RULES, "operations", "topic", "WRITE") == names
    assert _allowed(RULES, "operations", "group", "READ") == {"*", "operations"}


def test_wildcards_are_given_only_for_describe_and_the_operator_tools() -> None:
    wild = {(r.principal, r.resource, r.operation) for r in RULES if r.name == "*"}
    assert wild == {("catalog", "topic", "DESCRIBE"), ("catalog", "group", "DESCRIBE"),
                    ("operations", "topic", "DESCRIBE"), ("operations", "group", "DESCRIBE"),
                    ("operations", "group", "READ")}


@dataclass(frozen=True)
class _Entry:
    name: str
    writer: str
    readers: tuple[str, ...]
    external_writers: tuple[str, ...] = ()


def test_a_service_added_to_the_registry_gets_its_principal_and_acls_without_edits() -> None:
    registry = (
        _Entry("video-transcoded", "packager", ("catalog", "captions")),
        _Entry("captions-done", "captions", ("catalog", "webhooks")),
        _Entry("dead-letter", "any consumer", ("catalog",)),
        _Entry("video-uploaded", "ingest", ("captions",), external_writers=("upstream",)),
    )
    rules = acls(registry)
    assert {"captions", "webhooks"} <= set(principals(registry))
    assert _allowed(rules, "captions", "topic", "WRITE") == {"captions-done", "dead-letter"}
    assert _allowed(rules, "captions", "topic", "READ") == {"video-transcoded",
                                                            "video-uploaded"}
    assert _allowed(rules, "captions", "group", "READ") == {"captions"}
    assert _allowed(rules, "webhooks", "topic", "WRITE") == {"dead-letter"}
    assert _allowed(rules, "webhooks", "topic", "READ") == {"captions-done"}
    # A writer that reads nothing may not dead-letter: only consumers do.
    assert "ingest" not in consumers(registry)
    assert _allowed(rules, "ingest", "topic", "WRITE") == {"video-uploaded"}
    assert _allowed(rules, "upstream", "topic", "WRITE") == {"video-uploaded"}
