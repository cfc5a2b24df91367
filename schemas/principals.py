"""Kafka principals and their ACLs, derived from the topology (schemas/registry.py) alone.

Every name that appears as a topic's `writer` or among its `readers` is a service, and each
service is its own principal (`User:<name>`), so a topic, a reader or a service added to
the registry gets its principal and its ACLs without an edit here:

- a topic's writer may produce it (WRITE), and only its own topics;
- each reader may consume it (READ) with its own consumer group, which is the service's
  name (`REELFLOW_<SERVICE>_GROUP_ID` defaults to it); a reader that uses another group id
  needs it declared here;
- `any consumer` as a writer (the dead-letter topic) means every consuming principal may
  produce that topic: the shared consume loop dead-letters what it cannot handle;
- a topic's `external_writers` (e.g. `upstream` on `video-uploaded`) may produce it too,
  and nothing else;
- the operator tools (`reelflow dlq`, `lag`, `replay`, the console's actions) are one
  principal, `operations`: they read every topic, redrive into any topic and move any
  group's offsets;
- `OBSERVERS` may DESCRIBE every topic and group (lag figures), which reads no record;
  `WATCHED_GROUPS` names the few groups another principal may DESCRIBE.

No transactional ids are granted: no Reelflow client is transactional (faust runs
at-least-once). The stack's own `admin` is a super user (`super.users`), not an ACL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

#: The stack's own super user: creates topics, principals and ACLs.
ADMIN = "admin"
#: Services outside Reelflow that publish sources (README "Publishing video-uploaded").
UPSTREAM = "upstream"
#: The operator tools' principal.
OPERATIONS = "operations"
#: The writer of a topic every consumer writes (dead-letter).
ANY_CONSUMER = "any consumer"
#: Principals that watch every group's lag: the catalog's /metrics and console.
OBSERVERS = ("catalog", OPERATIONS)
#: Groups a principal reads the committed offsets of, besides its own: the webhooks
#: dispatcher waits for the catalog's (a webhook's `data` is the catalog's view once the
#: catalog has applied the source event, which its committed offset tells); the lane
#: router admits jobs by the transcode group's room on the lanes (its members,
#: assignments and committed offsets), and its first run starts where that group stands.
WATCHED_GROUPS = {"webhooks": ("catalog",), "router": ("transcode",)}
#: Kafka's wildcard resource name.
EVERY = "*"

Resource = Literal["topic", "group"]
Operation = Literal["READ", "WRITE", "DESCRIBE"]


class Declared(Protocol):
    """What a registry entry (a `Topic` or a `Changelog`) says about its principals."""

    @property
    def name(self) -> str: ...
    @property
    def writer(self) -> str: ...
    @property
    def readers(self) -> tuple[str, ...]: ...
    @property
    def external_writers(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule on a literal resource name (`*` is Kafka's wildcard), any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation


def consumers(topics: Iterable[Declared]) -> tuple[str, ...]:
    """Every principal that consumes some topic (and so may dead-letter)."""
    return tuple(sorted({r for t in topics for r in t.readers}))


def principals(topics: Iterable[Declared]) -> tuple[str, ...]:
    """Every principal the stack creates credentials for (the super user aside)."""
    topics = tuple(topics)
    names = {r for t in topics for r in t.readers}
    names |= {t.writer for t in topics if t.writer != ANY_CONSUMER}
    names |= {w for t in topics for w in t.external_writers}
    names.add(OPERATIONS)
    return tuple(sorted(names))


def acls(topics: Iterable[Declared]) -> frozenset[Acl]:
    """The ACLs that let each principal do what the registry says, and nothing more."""
    topics = tuple(topics)
    readers = consumers(topics)
    rules: set[Acl] = set()
    for topic in topics:
        writers = readers if topic.writer == ANY_CONSUMER else (topic.writer,)
        for writer in (*writers, *topic.external_writers):
            rules.add(Acl(writer, "topic", topic.name, "WRITE"))
        for reader in topic.readers:
            rules.add(Acl(reader, "topic", topic.name, "READ"))
        rules.add(Acl(OPERATIONS, "topic", topic.name, "READ"))
        rules.add(Acl(OPERATIONS, "topic", topic.name, "WRITE"))
    for reader in readers:
        rules.add(Acl(reader, "group", reader, "READ"))
    rules.add(Acl(OPERATIONS, "group", EVERY, "READ"))
    for watcher, groups in WATCHED_GROUPS.items():
        if watcher in readers:
            rules.update(Acl(watcher, "group", group, "DESCRIBE") for group in groups)
    for observer in OBSERVERS:
        rules.add(Acl(observer, "topic", EVERY, "DESCRIBE"))
        rules.add(Acl(observer, "group", EVERY, "DESCRIBE"))
    return frozenset(rules)
