"""Prometheus metrics of the catalog (served at `/metrics` from the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

VIDEOS = Gauge("reelflow_catalog_videos", "Videos in the catalog by status", ["status"])
BATCH_SECONDS = Histogram(
    "reelflow_catalog_projection_batch_seconds",
    "Time to apply one batch of records in one Postgres transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_RECORDS = Histogram(
    "reelflow_catalog_projection_batch_records", "Records per applied batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000),
)
EVENTS_APPLIED = Counter("reelflow_catalog_events_applied_total",
                         "Events projected into the read models", ["topic"])
EVENTS_SKIPPED = Counter(
    "reelflow_catalog_events_skipped_total",
    "Records not applied: duplicate event id, or below the stored offset", ["reason"],
)
DEAD_LETTERED = Counter("reelflow_catalog_dead_lettered_total",
                        "Records the projector sent to dead-letter", ["topic", "error_code"])
LAG = Gauge("reelflow_catalog_projection_lag_records",
            "Records on the partition not yet applied (high watermark minus stored offset)",
            ["topic", "partition"])
HTTP_SECONDS = Histogram("reelflow_catalog_http_request_seconds", "HTTP request latency",
                         ["method", "route", "status"])
# Every consumer group's lag, refreshed every 15 s by `services.catalog.lag_exporter`
# (Kafka's committed offsets; the catalog's own from Postgres, where it stores them).
CONSUMER_LAG = Gauge("reelflow_consumer_lag",
                     "Records on the partition the group has not consumed (log end minus "
                     "committed offset)", ["group", "topic", "partition"])
CONSUMER_GROUP_LAG = Gauge("reelflow_consumer_group_lag",
                           "Sum of reelflow_consumer_lag over the group's partitions", ["group"])
CONSUMER_LAG_UPDATED = Gauge("reelflow_consumer_lag_updated_timestamp_seconds",
                             "When the consumer lag gauges were last refreshed")
