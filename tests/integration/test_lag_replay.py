"""`reelflow lag` and `reelflow replay` against the real broker and Postgres, driven through
the command line as an operator would. Each test works on a topic and groups of its own,
and the catalog-style (Postgres) offsets live in a schema of this module's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from psycopg.conninfo import make_conninfo

from services.catalog.group_replay import Target, plan
from services.catalog.lag_exporter import lag_exporter
from services.catalog.schema import migrate
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUN = uuid.uuid4().hex[:10]
TOPIC = f"replay-it-{RUN}"
PER_PARTITION = 5


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=90)


async def acli(*args: str, **env: str) -> tuple[int, str, str]:
    """The CLI from inside a running event loop, so a consumer of ours stays live meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def _make_topic(bootstrap: str) -> datetime:
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        middle = datetime.now(UTC)
        for i in range(PER_PARTITION):
            for partition in (0, 1):
                await producer.send_and_wait(TOPIC, f"{partition}-{i}".encode(),
                                             partition=partition)
            if i == 2:
                await asyncio.sleep(0.05)
                middle = datetime.now(UTC)
                await asyncio.sleep(0.05)
    finally:
        await producer.stop()
    return middle  # records 3 and 4 of each partition were written after this


@pytest.fixture(scope="module")
def topic(common_settings: CommonSettings) -> datetime:
    return asyncio.run(_make_topic(common_settings.kafka_bootstrap))


@pytest.fixture(scope="module")
def catalog_dsn(common_settings: CommonSettings) -> Iterator[str]:
    """A schema with the catalog's tables, as a catalog projector's database looks."""
    schema = f"lag_it_{RUN}"
    with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    dsn = make_conninfo(common_settings.pg_dsn, options=f"-c search_path={schema}")

    async def setup() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await migrate(conn)

    asyncio.run(setup())
    yield dsn
    with psycopg.connect(common_settings.pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def _consumer(bootstrap: str, group: str, reset: str = "earliest") -> AIOKafkaConsumer:
    return AIOKafkaConsumer(TOPIC, **client_options(), bootstrap_servers=bootstrap, group_id=group,
                            enable_auto_commit=False, auto_offset_reset=reset,
                            session_timeout_ms=10000, heartbeat_interval_ms=1000)


async def _read(consumer: AIOKafkaConsumer, count: int, timeout: float = 30) -> list[bytes]:
    seen: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen) < count and asyncio.get_running_loop().time() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        seen.extend(r.value for records in batches.values() for r in records)
    return seen


async def _committed(bootstrap: str, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in found.items() if tp.topic == TOPIC}


async def _commit_some(bootstrap: str, group: str, offsets: dict[int, int]) -> None:
    consumer = _consumer(bootstrap, group)
    await consumer.start()
    try:
        await _read(consumer, 2 * PER_PARTITION)
        await consumer.commit({TopicPartition(TOPIC, p): o for p, o in offsets.items()})
    finally:
        await consumer.stop()


def test_lag_reports_a_stopped_group_per_partition_with_a_total(
        topic: datetime, common_settings: CommonSettings) -> None:
    group = f"lag-it-{RUN}"
    asyncio.run(_commit_some(common_settings.kafka_bootstrap, group, {0: 5, 1: 2}))
    done = cli("lag", "--group", group, "--json")
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["source"] == "kafka" and report["state"] == "Empty"
    assert report["members"] == [] and report["total_lag"] == 3
    rows = {(p["topic"], p["partition"]): p for p in report["partitions"]}
    assert rows[(TOPIC, 0)] == {"topic": TOPIC, "partition": 0, "current_offset": 5,
                                "log_end_offset": 5, "lag": 0}
    assert rows[(TOPIC, 1)]["current_offset"] == 2 and rows[(TOPIC, 1)]["lag"] == 3

    table = cli("lag", "--group", group)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET",
                                    "LOG-END-OFFSET", "LAG"]
    assert lines[2].split()[:6] == [group, TOPIC, "1", "2", "5", "3"]
    assert f"TOTAL LAG {group}: 3 (state Empty, 0 live members)" in table.stdout

    everything = cli("lag", "--json")  # no --group: every group on the cluster, this one too
    assert group in {g["group"] for g in json.loads(everything.stdout)}


def test_lag_reads_catalog_offsets_from_postgres(topic: datetime, catalog_dsn: str) -> None:
    group = f"catalog-lag-{RUN}"
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute('INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
                     " VALUES (%s, %s, 0, 1), (%s, %s, 1, 5)", (group, TOPIC, group, TOPIC))
    done = cli("lag", "--group", group, "--json", REELFLOW_PG_DSN=catalog_dsn)
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["source"] == "postgres"
    rows = {(p["topic"], p["partition"]): p for p in report["partitions"]}
    assert rows[(TOPIC, 0)]["lag"] == 4 and rows[(TOPIC, 1)]["lag"] == 0
    # A projector reads every topic: those it never applied anything from show `-`.
    assert rows[("video-uploaded", 0)]["current_offset"] is None
    assert report["total_lag"] == 4


def test_the_lag_gauges_carry_the_same_figures(topic: datetime,
                                               common_settings: CommonSettings) -> None:
    group = f"lag-gauge-{RUN}"
    asyncio.run(_commit_some(common_settings.kafka_bootstrap, group, {0: 1, 1: 4}))

    async def one_refresh() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(lag_exporter(common_settings, stop, interval_s=60))
        for _ in range(300):
            if REGISTRY.get_sample_value("reelflow_consumer_group_lag", {"group": group}):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(one_refresh())
    assert REGISTRY.get_sample_value(
        "reelflow_consumer_lag", {"group": group, "topic": TOPIC, "partition": "0"}) == 4
    assert REGISTRY.get_sample_value(
        "reelflow_consumer_lag", {"group": group, "topic": TOPIC, "partition": "1"}) == 1
    assert REGISTRY.get_sample_value("reelflow_consumer_group_lag", {"group": group}) == 5


def test_replay_plans_refuses_while_live_then_rewinds_a_stopped_group(
        topic: datetime, common_settings: CommonSettings) -> None:
    bootstrap = common_settings.kafka_bootstrap
    group = f"replay-it-{RUN}"

    async def scenario() -> None:
        live = _consumer(bootstrap, group)
        await live.start()
        try:
            assert len(await _read(live, 2 * PER_PARTITION)) == 2 * PER_PARTITION
            await live.commit({TopicPartition(TOPIC, 0): PER_PARTITION})  # p1: nothing

            rc, out, err = await acli("lag", "--group", group)
            assert rc == 0, err
            p1 = next(line.split() for line in out.splitlines()
                      if line.startswith(f"{group} ") and line.split()[2] == "1")
            assert p1[3] == "-" and p1[5] == "-", out  # nothing committed on partition 1
            assert p1[6] != "-", "the live member owning the partition is shown"

            rc, out, err = await acli("replay", "--group", group, "--topic", TOPIC,
                                      "--to-earliest")
            assert rc == 0, err
            assert "dry run: nothing changed" in out and "--execute would refuse" in out
            plan_rows = [line.split() for line in out.splitlines()
                         if line.startswith(f"{group} ")]
            assert plan_rows == [[group, TOPIC, "0", "5", "0"], [group, TOPIC, "1", "-", "0"]]
            assert await _committed(bootstrap, group) == {0: PER_PARTITION}

            rc, out, err = await acli("replay", "--group", group, "--topic", TOPIC,
                                      "--to-earliest", "--execute")
            assert rc == 2, (out, err)
            assert "refusing" in err and "live member" in err
            assert await _committed(bootstrap, group) == {0: PER_PARTITION}
        finally:
            await live.stop()  # leaves the group at once

        rc, out, err = await acli("replay", "--group", group, "--topic", TOPIC,
                                  "--to-earliest", "--execute")
        assert rc == 0, (out, err)
        assert await _committed(bootstrap, group) == {0: 0, 1: 0}

        # `latest` as the reset policy: only the committed offsets can make it re-read.
        again = _consumer(bootstrap, group, reset="latest")
        await again.start()
        try:
            reread = await _read(again, 2 * PER_PARTITION)
        finally:
            await again.stop()
        assert sorted(reread) == sorted(f"{p}-{i}".encode() for p in (0, 1)
                                        for i in range(PER_PARTITION))

    asyncio.run(scenario())


def test_replay_targets(topic: datetime, common_settings: CommonSettings) -> None:
    group = f"replay-targets-{RUN}"
    asyncio.run(_commit_some(common_settings.kafka_bootstrap, group, {0: 4, 1: 1}))

    def new_offsets(target: Target) -> dict[int, int]:
        found = asyncio.run(plan(common_settings, group, TOPIC, target))
        return {m.partition: m.new for m in found.moves}

    assert new_offsets(Target("shift", -2)) == {0: 2, 1: 0}  # clamped at the log start
    assert new_offsets(Target("shift", 10)) == {0: 5, 1: 5}  # and at the log end
    assert new_offsets(Target("offset", 3)) == {0: 3, 1: 3}
    assert new_offsets(Target("latest")) == {0: 5, 1: 5}
    assert new_offsets(Target("datetime", topic)) == {0: 3, 1: 3}
    assert new_offsets(Target("datetime", topic + timedelta(days=1))) == {0: 5, 1: 5}
    # Planning is a read: the group's offsets are where they were.
    assert asyncio.run(_committed(common_settings.kafka_bootstrap, group)) == {0: 4, 1: 1}


def test_replay_of_a_catalog_group_rewrites_its_postgres_offsets(
        topic: datetime, catalog_dsn: str) -> None:
    group = f"catalog-replay-{RUN}"
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute('INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
                     " VALUES (%s, %s, 0, 5), (%s, %s, 1, 4)", (group, TOPIC, group, TOPIC))
    dry = cli("replay", "--group", group, "--topic", TOPIC, "--shift-by", "-1",
              REELFLOW_PG_DSN=catalog_dsn)
    assert dry.returncode == 0, dry.stderr
    assert "dedupes on event_id" in dry.stdout and "catalog rebuild" in dry.stdout
    done = cli("replay", "--group", group, "--topic", TOPIC, "--shift-by", "-1", "--execute",
               REELFLOW_PG_DSN=catalog_dsn)
    assert done.returncode == 0, done.stderr
    assert "Postgres" in done.stdout
    with psycopg.connect(catalog_dsn) as conn:
        rows = conn.execute('SELECT "partition", next_offset FROM consumer_offsets'
                            " WHERE group_id = %s ORDER BY 1", (group,)).fetchall()
    assert rows == [(0, 4), (1, 3)]
