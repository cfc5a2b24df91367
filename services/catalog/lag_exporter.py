"""The catalog's lag exporter: every consumer group's lag as Prometheus gauges,
`reelflow_consumer_lag{group,topic,partition}` and `reelflow_consumer_group_lag{group}`,
the same figures `reelflow lag` prints (both from `shared.group_lag`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from aiokafka.errors import KafkaError

from services.catalog import metrics
from services.catalog.offsets import every_group_or_nothing
from services.shared.group_lag import collect
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)


async def lag_exporter(common: CommonSettings, stop: asyncio.Event,
                       interval_s: float = 15.0) -> None:
    """Refresh the lag gauges every `interval_s` until `stop`; failures only log (a scrape
    then shows the previous figures, whose age `reelflow_consumer_lag_updated` tells)."""
    while not stop.is_set():
        try:
            report = await collect(common.kafka_bootstrap,
                                   await every_group_or_nothing(common.pg_dsn))
        except (KafkaError, OSError, psycopg.Error, TimeoutError) as exc:
            log.warning("lag refresh failed: %s", exc)
        except Exception:  # a side task: never let it take the catalog's API down
            log.exception("lag refresh failed unexpectedly")
        else:
            # No await between clear and set: a scrape never sees a half-filled gauge.
            metrics.CONSUMER_LAG.clear()
            metrics.CONSUMER_GROUP_LAG.clear()
            for group in report:
                metrics.CONSUMER_GROUP_LAG.labels(group.group).set(group.total)
                for p in group.partitions:
                    if p.lag is not None:
                        metrics.CONSUMER_LAG.labels(group.group, p.topic,
                                                    str(p.partition)).set(p.lag)
            metrics.CONSUMER_LAG_UPDATED.set_to_current_time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
