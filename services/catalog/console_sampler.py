"""The console's sampler: every `console_sample_s` it reads every consumer group's lag (the
figures `reelflow lag` prints, from `shared.group_lag`, with the catalog's own offsets from
Postgres), the age of the oldest unconsumed record of each lagging partition, and feeds
them to the `ConsoleHistory` the console's routes read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import psycopg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from schemas import PIPELINE_TOPICS
from services.catalog.console_history import ConsoleHistory, Reading
from services.catalog.offsets import every_group_or_nothing
from services.shared.consumers import new_consumer, started
from services.shared.group_lag import GroupLag, collect
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

PROJECTED = frozenset(t.name for t in PIPELINE_TOPICS)


def unconsumed(report: Iterable[GroupLag]) -> set[tuple[str, int, int]]:
    """(topic, partition, committed offset) of every partition some group lags on."""
    return {(p.topic, p.partition, p.current) for g in report for p in g.partitions
            if p.current is not None and p.lag}


async def record_times(bootstrap: str, wanted: set[tuple[str, int, int]],
                       timeout_s: float = 2.0) -> dict[tuple[str, int, int], float]:
    """Epoch seconds of the first record at or after each (topic, partition, offset): the
    oldest record the group has not consumed (a transaction marker holds an offset but no
    record, hence "at or after")."""
    if not wanted:
        return {}
    found: dict[tuple[str, int, int], float] = {}
    by_partition: dict[TopicPartition, list[int]] = {}
    for topic, partition, offset in wanted:
        by_partition.setdefault(TopicPartition(topic, partition), []).append(offset)
    # "earliest": an offset retention already deleted resets to the log start, whose record
    # is then the oldest one the group has not consumed.
    async with started(new_consumer(bootstrap, auto_offset_reset="earliest",
                                    committed_only=False)) as consumer:
        # One pass per distinct offset of a partition (groups may sit at different places).
        rounds = max(len(v) for v in by_partition.values())
        for i in range(rounds):
            todo = {tp: sorted(v)[i] for tp, v in by_partition.items() if i < len(v)}
            consumer.assign(list(todo))
            for tp, offset in todo.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            pending = set(todo)
            while pending and time.monotonic() < deadline:
                batches = await consumer.getmany(*pending, timeout_ms=500, max_records=1)
                for tp, records in batches.items():
                    if records and tp in pending:
                        found[(tp.topic, tp.partition, todo[tp])] = records[0].timestamp / 1000
                        pending.discard(tp)
    return found


async def read_once(common: CommonSettings) -> Reading:
    # The reading's time is when it began: every offset it holds is at least that fresh
    # (stamped after the reads, a slow round would claim offsets newer than it saw).
    at = time.time()
    report = await collect(common.kafka_bootstrap, await every_group_or_nothing(common.pg_dsn))
    # Record times only where the catalog's principal may read (the topics it projects):
    # a group lagging on any other topic shows its lag in records, not in seconds.
    readable = {(topic, p, o) for topic, p, o in unconsumed(report) if topic in PROJECTED}
    times = await record_times(common.kafka_bootstrap, readable)
    return Reading(at, report, {key: max(0.0, at - t) for key, t in times.items()})


async def sample_forever(common: CommonSettings, history: ConsoleHistory, stop: asyncio.Event,
                         interval_s: float) -> None:
    """Record a reading every `interval_s` until `stop`; a failed round is kept as the
    history's error (the page shows it) and the next round tries again."""
    while not stop.is_set():
        started_at = time.monotonic()
        try:
            history.record(await read_once(common))
        except (KafkaError, OSError, psycopg.Error, TimeoutError) as exc:
            history.error = f"lag_unavailable: {type(exc).__name__}"
            log.warning("console sample failed: %s", exc)
        except Exception:  # a side task: never let it take the catalog's API down
            history.error = "lag_unavailable: unexpected error"
            log.exception("console sample failed unexpectedly")
        wait = max(0.1, interval_s - (time.monotonic() - started_at))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
