"""The operations console's API (`/api/v1/console`) on the session's running pipeline.

- Its lag figures equal what Kafka's own `kafka-consumer-groups.sh --describe` prints (the
  same class, `ConsumerGroupCommand` from the Kafka jars, run with java), read while the
  topics are idle: the tool's output is the same before and after the console's sample.
- A stopped consumer group (the packager) keeps its rows and its lag and turns STOP within
  the status window; started again it turns OK once its lag is worked off.
- The actions: a dead letter is redriven (a copy of its original bytes lands on its
  original partition), and a replay is planned as a dry run and refused while the group
  is live.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.shared.kafka_security import client_options, java_client_properties
from services.shared.settings import CommonSettings
from tests.access import admin_headers
from tests.integration.test_pipeline import CATALOG, INGEST, submit, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import TEST_ENV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WINDOW_S = float(TEST_ENV["REELFLOW_CATALOG_CONSOLE_WINDOW_S"])
SAMPLE_S = float(TEST_ENV["REELFLOW_CATALOG_CONSOLE_SAMPLE_S"])
#: The class `kafka-consumer-groups.sh` runs in Kafka 4.x (the tools jar).
GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
POISON_KEY = b"console-test-poison"
POISON_VALUE = b"not avro at all"


def console(path: str) -> dict[str, Any]:
    reply = httpx.get(f"{CATALOG}/api/v1/console/{path}", headers=admin_headers(), timeout=15)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def fresh_groups(after: float) -> dict[str, Any]:
    """The console's groups from a sample taken after `after` (epoch seconds)."""
    return wait_until(lambda: (lambda a: a if (a["taken_at"] or 0) > after else None)(
        console("groups")), "a console sample newer than the oracle's", timeout=30)


def by_name(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in answer["groups"]}


@pytest.fixture(scope="module")
def worked_clip(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small clip through the whole pipeline, so every group has committed offsets."""
    clip = make_clip(tmp_path_factory.mktemp("console") / "clip.mp4", 640, 360, seconds=2)
    reply = submit(clip, metadata=json.dumps({"title": "Console clip"}))
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    return video


def describe_all_groups(common: CommonSettings) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """`kafka-consumer-groups.sh --describe --all-groups`, parsed: per (group, topic,
    partition) the current offset, log-end offset, lag and consumer id (None for `-`)."""
    from services.stack import StackSettings

    jars = StackSettings().kafka_jars
    with tempfile.NamedTemporaryFile("w", suffix=".properties") as config:
        config.write("".join(f"{k}={v}\n" for k, v in java_client_properties(common).items()))
        config.flush()
        done = subprocess.run(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
             f"{jars}/*", GROUP_COMMAND, "--bootstrap-server", common.kafka_bootstrap,
             "--command-config", config.name, "--describe", "--all-groups"],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for line in done.stdout.splitlines():
        cells = line.split()
        if len(cells) < 9 or cells[0] == "GROUP" or not cells[2].isdigit():
            continue

        def value(text: str) -> int | None:
            return None if text == "-" else int(text)

        rows[(cells[0], cells[1], int(cells[2]))] = (
            value(cells[3]), int(cells[4]), value(cells[5]),
            None if cells[6] == "-" else cells[6])
    assert rows, done.stdout
    return rows


def console_rows(answer: dict[str, Any], groups: set[str]
                 ) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    return {(g["group"], p["topic"], p["partition"]): (
        p["current_offset"], p["log_end_offset"], p["lag"], p["consumer_id"])
        for g in answer["groups"] if g["group"] in groups for p in g["partitions"]}


def test_the_console_api_wants_the_admin_key(pipeline) -> None:
    for path in ("groups", "charts", "stuck"):
        assert httpx.get(f"{CATALOG}/api/v1/console/{path}", timeout=10).status_code == 401
        wrong = httpx.get(f"{CATALOG}/api/v1/console/{path}", timeout=10,
                          headers={"X-API-Key": "rf_not-a-key"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_api_key"
    # A tenant's key reads its own videos, never the console.
    issued = httpx.post(f"{INGEST}/api/v1/admin/api-keys", json={"name": "console-tenant"},
                        headers=admin_headers(), timeout=10)
    assert issued.status_code == 201, issued.text
    tenant = {"X-API-Key": issued.json()["api_key"]}
    wait_until(lambda: httpx.get(f"{CATALOG}/api/v1/videos", headers=tenant,
                                 timeout=10).status_code == 200,
               "the catalog to know the tenant's key", timeout=30)
    for method, path in (("GET", "groups"), ("GET", "charts"), ("GET", "stuck"),
                         ("POST", "replay")):
        denied = httpx.request(method, f"{CATALOG}/api/v1/console/{path}", headers=tenant,
                               json={"group": "packager", "topic": "rendition-done",
                                     "to_datetime": "2026-01-01T00:00:00Z"}, timeout=10)
        assert denied.status_code == 403 and denied.json()["error"] == "admin_only", path
    page = httpx.get(f"{CATALOG}/console", timeout=10)
    assert page.status_code == 200 and "/static/vendor/uPlot.iife.min.js" in page.text
    assert httpx.get(f"{CATALOG}/static/vendor/uPlot.iife.min.js",
                     timeout=10).status_code == 200


def test_lag_equals_kafka_consumer_groups_describe(worked_clip: dict[str, Any],
                                                   common_settings: CommonSettings) -> None:
    # The captions, scoring and webhooks workers finish the clip's work after it is ready,
    # so the log may take a while to go idle: poll for up to two minutes.
    deadline = time.monotonic() + 120
    while True:
        before = describe_all_groups(common_settings)
        answer = fresh_groups(time.time())
        after = describe_all_groups(common_settings)
        if before == after:  # idle: nothing moved while the console sampled
            break
        if time.monotonic() > deadline:
            pytest.fail("the topics never went idle for one console sample")
        time.sleep(1)
    kafka_groups = {g["group"] for g in answer["groups"] if g["source"] == "kafka"}
    assert {"ingest", "transcode", "packager"} <= kafka_groups, kafka_groups
    oracle = {key: row for key, row in before.items() if key[0] in kafka_groups}
    shown = console_rows(answer, kafka_groups)
    assert shown == oracle
    # The catalog's offsets live in Postgres; its group is shown too, every pipeline topic.
    catalog = by_name(answer)["catalog"]
    assert catalog["source"] == "postgres" and catalog["partitions"]


def test_a_stopped_group_turns_stop_keeps_its_lag_then_ok_after_restart(
        worked_clip: dict[str, Any], pipeline, common_settings: CommonSettings) -> None:
    packager = pipeline.component("packager")
    packager.stop()
    stopped_at = time.monotonic()
    try:
        stopped = wait_until(
            lambda: (lambda g: g if g and g["status"] == "STOP" else None)(
                by_name(console("groups")).get("packager")),
            "the packager group to turn STOP", timeout=WINDOW_S + 3 * SAMPLE_S)
        assert time.monotonic() - stopped_at <= WINDOW_S + 3 * SAMPLE_S
        assert stopped["members"] == [] and stopped["partitions"], stopped
        assert stopped["rule"].startswith("STOP")
        # Work arrives while nobody consumes: one record it cannot decode (it will
        # dead-letter it on restart, which the actions test redrives), on a partition the
        # group committed on (Kafka reports no lag where a group never committed).
        partition = next(p["partition"] for p in stopped["partitions"]
                         if p["topic"] == "rendition-done" and p["current_offset"] is not None)
        published_at = time.time()
        asyncio.run(_publish_poison(common_settings.kafka_bootstrap, partition))

        def poison_row(answer: dict[str, Any]) -> dict[str, Any]:
            [row] = [p for p in by_name(answer)["packager"]["partitions"]
                     if p["topic"] == "rendition-done" and p["partition"] == partition]
            return row

        # That partition's row, not the group's total: the captions worker may still add a
        # captions-done for the worked clip while the packager is stopped.
        answer = wait_until(
            lambda: (lambda a: a if poison_row(a)["lag"] else None)(console("groups")),
            "the stopped group's lag to be reported", timeout=30)
        assert by_name(answer)["packager"]["status"] == "STOP"
        row = poison_row(answer)
        # Lag in seconds: the age of that record (its timestamp is its send time) at the
        # sample, by the test's own clock.
        assert row["lag"] == 1
        assert abs(row["lag_seconds"] - (answer["taken_at"] - published_at)) < 1.5, row
        assert row["log_end_offset"] - row["current_offset"] == 1
    finally:
        pipeline.up()  # starts what is not running (the packager) and waits until healthy
    ok = wait_until(
        lambda: (lambda g: g if g and g["status"] == "OK" and g["total_lag"] == 0 else None)(
            by_name(console("groups")).get("packager")),
        "the restarted packager to work its lag off and turn OK", timeout=60)
    assert ok["members"], ok


async def _publish_poison(bootstrap: str, partition: int) -> None:
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("rendition-done", POISON_VALUE, key=POISON_KEY,
                                     partition=partition)
    finally:
        await producer.stop()


def test_redrive_a_dead_letter_and_plan_a_replay(
        worked_clip: dict[str, Any], common_settings: CommonSettings) -> None:
    def poison_letter() -> dict[str, Any] | None:
        listed = httpx.get(f"{CATALOG}/api/v1/dead-letters", headers=admin_headers(),
                           params={"original_topic": "rendition-done",
                                   "consumer_group": "packager", "limit": 500},
                           timeout=10).json()["items"]
        for item in listed:
            detail: dict[str, Any] = httpx.get(f"{CATALOG}/api/v1/dead-letters/{item['id']}",
                                               headers=admin_headers(), timeout=10).json()
            if detail["original_key_text"] == POISON_KEY.decode() and not detail[
                    "redrive_count"]:
                return detail
        return None

    # The record the stopped-group test left on rendition-done, dead-lettered by the packager.
    letter = wait_until(poison_letter, "the packager's dead letter of the poison record",
                        timeout=60)
    reply = httpx.post(f"{CATALOG}/api/v1/console/dead-letters/{letter['id']}/redrive",
                       headers=admin_headers(), timeout=30)
    assert reply.status_code == 200, reply.text
    done = reply.json()
    assert (done["topic"], done["partition"]) == ("rendition-done",
                                                  letter["original_partition"])
    copy = asyncio.run(_read_at(common_settings.kafka_bootstrap, done["topic"],
                                done["partition"], done["offset"]))
    assert copy.key == POISON_KEY and copy.value == POISON_VALUE
    assert base64.b64decode(letter["original_value_base64"]) == POISON_VALUE
    assert dict(copy.headers)["reelflow-redrive-count"] == b"1"

    # Replay: the dry run plans without writing; executing against a live group is refused.
    body = {"group": "packager", "topic": "rendition-done",
            "to_datetime": (datetime.now(UTC) - timedelta(minutes=10)).isoformat()}
    plan = httpx.post(f"{CATALOG}/api/v1/console/replay", json=body, headers=admin_headers(),
                      timeout=30)
    assert plan.status_code == 200, plan.text
    planned = plan.json()
    assert planned["executed"] is False and planned["live_members"] >= 1
    moves = planned["moves"]
    assert len(moves) == 6 and all(m["current"] is None or m["new"] <= m["current"]
                                   for m in moves)
    assert any(m["current"] is not None and m["new"] < m["current"] for m in moves), moves
    before = console_rows(fresh_groups(time.time()), {"packager"})
    refused = httpx.post(f"{CATALOG}/api/v1/console/replay", json={**body, "execute": True},
                         headers=admin_headers(), timeout=30)
    assert refused.status_code == 409 and refused.json()["error"] == "group_active"
    after = console_rows(fresh_groups(time.time()), {"packager"})
    # Nothing was rewound (the packager may have moved on: it dead-letters the copy again).
    assert all((after[k][0] or 0) >= (v[0] or 0) for k, v in before.items()), (before, after)


async def _read_at(bootstrap: str, topic: str, partition: int, offset: int) -> Any:
    consumer = AIOKafkaConsumer(**client_options(),
                                bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=10000, max_records=1)
        [record] = batch[tp]
        assert record.offset == offset
        return record
    finally:
        await consumer.stop()


def test_a_video_waiting_for_a_stopped_transcoder_is_stuck_work(
        worked_clip: dict[str, Any], pipeline, tmp_path_factory: pytest.TempPathFactory) -> None:
    floor = float(TEST_ENV["REELFLOW_CATALOG_CONSOLE_STUCK_FLOOR_S"])
    clip = make_clip(tmp_path_factory.mktemp("stuck") / "clip.mp4", 640, 360, seconds=2)
    pipeline.component("transcode").stop()
    try:
        reply = submit(clip, metadata=json.dumps({"title": "Stuck clip"}))
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        listed = wait_until(lambda: next((v for v in console("stuck")["items"]
                                          if v["video_id"] == video_id), None),
                            "the waiting video to be listed as stuck", timeout=60)
        assert listed["stage"] == "uploaded" and listed["in_stage_s"] > listed["limit_s"] >= floor
        assert listed["title"] == "Stuck clip"
    finally:
        pipeline.up()
    wait_for_status(video_id, {"ready"})
    assert video_id not in {v["video_id"] for v in console("stuck")["items"]}


def test_stuck_work_and_charts_answer(worked_clip: dict[str, Any]) -> None:
    stuck = console("stuck")
    assert stuck["factor"] > 0 and isinstance(stuck["items"], list)
    # The clip went through every stage: each has a median now.
    assert set(stuck["medians_s"]) == {"uploaded", "transcoding", "packaging"}
    charts = console("charts")
    assert charts["throughput"]["series"], charts["throughput"]
    assert any(v for column in charts["throughput"]["series"].values() for v in column if v)
    assert len(charts["dead_letters"]["times"]) == 60

