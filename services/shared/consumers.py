"""Every Kafka consumer Reelflow makes, made here, so they differ only where they must.

What they share, and why:
- auto-commit is off: each one commits explicitly after its work is durable (the consume
  loop), keeps its offsets in Postgres (the catalog), or only reads (the rest);
- `read_committed` by default, so nobody acts on records of an aborted transaction; the
  lag and replay tools read the high watermark instead, as Kafka's own tooling does;
- a heartbeat at a quarter of the session timeout, Kafka's recommended ratio;
- the process's Kafka principal and security settings (`kafka_security.client_options`).

A consumer without `group_id` reads partitions it assigns itself: it never joins, moves or
creates a group (the key ring, the rebuild, the operator tools).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.shared.kafka_security import client_options

OffsetReset = Literal["earliest", "latest", "none"]


def new_consumer(bootstrap: str, *, group_id: str | None = None, client_id: str | None = None,
                 instance_id: str | None = None, auto_offset_reset: OffsetReset = "latest",
                 session_timeout_ms: int = 10000, max_poll_interval_ms: int = 300000,
                 range_assignment: bool = False,
                 committed_only: bool = True) -> AIOKafkaConsumer:
    """A consumer with Reelflow's shared configuration.

    `range_assignment` gives partition p of every subscribed topic to one member (the
    projector relies on it; aiokafka's default is round robin)."""
    extra: dict[str, object] = {}
    if client_id is not None:
        extra["client_id"] = client_id
    if range_assignment:
        extra["partition_assignment_strategy"] = (RangePartitionAssignor,)
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        group_instance_id=instance_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 4),
        max_poll_interval_ms=max_poll_interval_ms,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
        **client_options(),
        **extra,
    )


async def stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop `consumer`. aiokafka 0.14 can surface the CancelledError of its own internal
    offset-reset task when a group-less consumer stops soon after start (aiokafka #647);
    the consumer is closed all the same."""
    with contextlib.suppress(asyncio.CancelledError):
        await consumer.stop()


@contextlib.asynccontextmanager
async def started(consumer: AIOKafkaConsumer) -> AsyncIterator[AIOKafkaConsumer]:
    """`consumer`, started, and stopped on the way out."""
    try:
        await consumer.start()
        yield consumer
    finally:
        await stop_quietly(consumer)
