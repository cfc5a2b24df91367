"""Prometheus metrics every consuming service exports besides the consume loop's counters:
stage durations, rendition encode times and VMAF (from the `rendition-done` events a
service emits), and consumer lag per group, topic and partition for the partitions this
process owns (the catalog's /metrics has every group's lag, read from the brokers)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram

from schemas import RENDITION_DONE, RENDITION_SCORED
from schemas.events import Quality, RenditionDone, RenditionScored

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

STAGE_SECONDS = Histogram("reelflow_stage_seconds",
                          "Time a stage spent on one record, retries included",
                          ["group", "topic", "outcome"], buckets=_SECONDS)
RENDITION_SECONDS = Histogram("reelflow_rendition_encode_seconds",
                              "Encode time per rendition, as its rendition-done reports",
                              ["rendition"], buckets=_SECONDS)
VMAF = Histogram("reelflow_rendition_vmaf", "VMAF of each scored rendition", ["rendition"],
                 buckets=(50, 60, 70, 80, 85, 88, 90, 92, 93, 94, 95, 96, 97, 98, 99, 100))
BELOW_FLOOR = Counter("reelflow_rendition_below_floor_total",
                      "Renditions whose VMAF is below their profile's floor", ["rendition"])
CONSUMER_LAG = Gauge("reelflow_consumer_partition_lag",
                     "Records between the group's committed offset and the log end, per"
                     " partition this process owns", ["group", "topic", "partition"])


def observe_emitted(topic: str, event: object) -> None:
    """Metrics carried by an event this process is about to publish."""
    if topic == RENDITION_SCORED.name and isinstance(event, RenditionScored):
        # Scores arrive after playback, from the scoring group (issue 16); a v1-v3
        # rendition-done that still carries its score is counted below, as before.
        _observe_quality(event.rendition, event.quality)
        return
    if topic != RENDITION_DONE.name or not isinstance(event, RenditionDone):
        return
    if event.encode_seconds:
        RENDITION_SECONDS.labels(event.rendition).observe(event.encode_seconds)
    if event.quality is not None:
        _observe_quality(event.rendition, event.quality)


def _observe_quality(rendition: str, quality: Quality) -> None:
    if quality.vmaf is not None:
        VMAF.labels(rendition).observe(quality.vmaf)
    if quality.below_floor:
        BELOW_FLOOR.labels(rendition).inc()


class LagGauge:
    """Refreshes `reelflow_consumer_partition_lag` at most every `every_s` seconds."""

    def __init__(self, group: str, every_s: float = 10.0) -> None:
        self.group, self.every_s = group, every_s
        self._next = 0.0
        self._shown: set[tuple[str, str]] = set()

    async def refresh(self, consumer: AIOKafkaConsumer) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every_s
        assigned = consumer.assignment()
        try:
            # Bounded: with the broker away these would wait for it, holding up the loop.
            ends, committed = await asyncio.wait_for(self._read(consumer, assigned), 5)
        except (KafkaError, TimeoutError):
            return  # the next refresh tries again; stale beats wrong
        shown = set()
        for tp, end in ends.items():
            labels = (tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(self.group, *labels).set(max(0, end - (committed[tp] or 0)))
            shown.add(labels)
        for labels in self._shown - shown:  # partitions this process no longer owns
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group, *labels)
        self._shown = shown

    @staticmethod
    async def _read(consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
                    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int | None]]:
        ends = await consumer.end_offsets(list(assigned)) if assigned else {}
        return ends, {tp: await consumer.committed(tp) for tp in assigned}
