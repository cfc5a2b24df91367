"""The topology is declared once, in schemas/registry.py, and the code agrees with it."""

import ast
import importlib
import re
from pathlib import Path

import schemas
from schemas import ALL_TOPICS, API_KEYS, DEAD_LETTER, PIPELINE_TOPICS, WEBHOOK_ENDPOINTS, Topic

SERVICES = Path(__file__).resolve().parents[3] / "services"
PUBLISH = re.compile(r"\.publish\(\s*([A-Z_]+)\b")
APPLICATION_SERVICES = ("ingest", "transcode", "packager", "catalog", "captions", "webhooks")
#: Every folder under services/ that is a service or operator tooling (shared/ is a
#: library: what it reads is read by the services that use it).
SERVICE_FOLDERS = tuple(sorted(p.name for p in SERVICES.iterdir()
                               if p.is_dir() and (p / "__init__.py").exists()
                               and p.name != "shared"))
#: The calls that name what a consumer reads: the consume loop's settings, a subscription,
#: a manual assignment of partitions, a faust agent's source (services/figures), or the
#: follower of a compacted topic (services/shared/follow.py).
CONSUME_SITES = {"LoopSettings", "subscribe", "TopicPartition", "agent", "follow"}


def _topics_named(node: ast.AST, namespace: dict[str, object]) -> set[str]:
    """Topic names of the constants (a topic or a tuple of them, as the module's namespace
    or else `schemas` has them) under `node`."""
    found = set()
    for name in (n.id for n in ast.walk(node) if isinstance(n, ast.Name)):
        value = namespace.get(name, getattr(schemas, name, None))
        if isinstance(value, Topic):
            found.add(value.name)
        elif isinstance(value, tuple) and value and all(isinstance(t, Topic) for t in value):
            found.update(t.name for t in value)
    return found


def _is_site(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (func.id if isinstance(func, ast.Name) else
            func.attr if isinstance(func, ast.Attribute) else None) in CONSUME_SITES


def consumed_in(tree: ast.AST, namespace: dict[str, object] | None = None) -> set[str]:
    """Topics a module's consume sites name, directly (`TopicPartition(API_KEYS.name, p)`,
    `LoopSettings(topics=(VIDEO_UPLOADED,))`) or through a comprehension over a constant
    (`[TopicPartition(t.name, p) for t in PIPELINE_TOPICS ...]`)."""
    namespace = namespace or {}
    found = set()
    for node in ast.walk(tree):
        if _is_site(node):
            found |= _topics_named(node, namespace)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp) and any(
                _is_site(n) for n in ast.walk(node.elt)):
            for generator in node.generators:
                found |= _topics_named(generator.iter, namespace)
    return found


def _modules(folder: Path) -> list[tuple[ast.AST, dict[str, object]]]:
    """Each module's syntax tree and its namespace (so `TOPICS = (A, B)` resolves)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        name = ".".join(path.relative_to(SERVICES.parent).with_suffix("").parts)
        found.append((ast.parse(path.read_text()), vars(importlib.import_module(name))))
    return found


def shared_readers() -> dict[str, set[str]]:
    """Module name -> topics, for the shared modules that consume on their callers' behalf
    (the key ring, the dead-letter log)."""
    readers: dict[str, set[str]] = {}
    for path in sorted((SERVICES / "shared").rglob("*.py")):
        name = ".".join(path.relative_to(SERVICES.parent).with_suffix("").parts)
        topics = consumed_in(ast.parse(path.read_text()), vars(importlib.import_module(name)))
        if topics:
            readers[name] = topics
    return readers


def _imported(tree: ast.AST) -> set[str]:
    """The modules a module imports, as dotted names (`from a import b` counts `a.b` too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def consumed_topics(service: str) -> set[str]:
    wrappers = shared_readers()
    found = set()
    for tree, namespace in _modules(SERVICES / service):
        found |= consumed_in(tree, namespace)
        for module in _imported(tree) & set(wrappers):
            found |= wrappers[module]
    return found


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


def test_each_topic_has_exactly_the_readers_the_registry_declares():
    derived: dict[str, set[str]] = {t.name: set() for t in ALL_TOPICS}
    for service in SERVICE_FOLDERS:
        for name in consumed_topics(service):
            derived[name].add(service)
    assert derived == {t.name: set(t.readers) for t in ALL_TOPICS}


def test_the_reader_scan_sees_each_way_of_consuming():
    code = ast.parse(
        "LoopSettings('g', (RENDITION_DONE,), control_topics=(VIDEO_CANCELLED,))\n"
        "consumer.assign([TopicPartition(API_KEYS.name, p) for p in range(1)])\n"
        "parts = [TopicPartition(t.name, p) for t in PIPELINE_TOPICS for p in range(6)]\n"
        "producer.publish(VIDEO_TRANSCODED, event)\n")
    assert consumed_in(code) == {"rendition-done", "video-cancelled", "api-keys",
                                 *(t.name for t in PIPELINE_TOPICS)}
    assert "video-transcoded" in consumed_in(ast.parse(
        "consumer.subscribe([VIDEO_TRANSCODED.name])"))
    assert not consumed_in(ast.parse("producer.publish(VIDEO_TRANSCODED, event)"))
    assert consumed_in(ast.parse("LoopSettings('g', MINE)"),
                       {"MINE": (schemas.VIDEO_UPLOADED,)}) == {"video-uploaded"}
    assert consumed_in(ast.parse("app.agent(self._source((DEAD_LETTER,)), name='n')(f)")) == {
        "dead-letter"}
    assert consumed_in(ast.parse("await follow(b, SIGNING_KEYS, codec, f, e, stop)")) == {
        "signing-keys"}


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


def test_api_keys_live_on_a_compacted_topic_written_by_ingest_and_read_by_every_api():
    assert API_KEYS in ALL_TOPICS and API_KEYS not in PIPELINE_TOPICS
    assert API_KEYS.compacted and API_KEYS.config()["cleanup.policy"] == "compact"
    assert API_KEYS.key == "key_id" and API_KEYS.writer == "ingest"
    assert set(API_KEYS.readers) == {"ingest", "catalog", "webhooks"}
    fields = API_KEYS.latest.definition_fields
    assert {"name", "key_sha256", "active", "rate_limit_per_hour", "created_at", "revoked_at",
            "last_used_at"} <= fields
    assert not {"key", "api_key", "secret"} & fields  # never the clear key


def test_only_compacted_topics_carry_a_cleanup_policy():
    for topic in ALL_TOPICS:
        assert ("cleanup.policy" in topic.config()) == topic.compacted, topic.name


def test_webhook_endpoints_live_on_a_compacted_topic_the_webhooks_service_writes_and_reads():
    assert WEBHOOK_ENDPOINTS in ALL_TOPICS and WEBHOOK_ENDPOINTS not in PIPELINE_TOPICS
    assert WEBHOOK_ENDPOINTS.compacted and WEBHOOK_ENDPOINTS.key == "endpoint_id"
    assert WEBHOOK_ENDPOINTS.writer == "webhooks" and WEBHOOK_ENDPOINTS.readers == ("webhooks",)
    assert {"owner", "url", "event_types", "enabled", "disabled_reason", "secrets",
            "deleted"} <= WEBHOOK_ENDPOINTS.latest.definition_fields
