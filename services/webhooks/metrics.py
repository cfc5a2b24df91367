"""The webhooks service's Prometheus metrics (served on its HTTP port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: One per attempt, by endpoint and outcome (success, failure): the alert's failure rate.
ATTEMPTS = Counter("reelflow_webhook_attempts_total", "Webhook delivery attempts",
                   ["endpoint", "outcome"])
#: One per delivery that ended or was rescheduled: delivered, retrying, failed.
DELIVERIES = Counter("reelflow_webhook_deliveries_total", "Webhook deliveries by outcome",
                     ["outcome"])
LATENCY = Histogram("reelflow_webhook_delivery_latency_seconds",
                    "Source event to successful delivery",
                    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200, 86400))
ATTEMPT_SECONDS = Histogram("reelflow_webhook_attempt_seconds", "One attempt's HTTP time",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RETRIES_PENDING = Gauge("reelflow_webhook_retries_pending",
                        "Deliveries waiting for a retry (at least one attempt failed)")
ENDPOINTS_DISABLED = Gauge("reelflow_webhook_endpoints_disabled",
                           "Endpoints that are disabled (by a user or the dispatcher)")
