"""Structured logs and OpenTelemetry traces, configured once per process.

Logs are JSON lines carrying the service name, and `video_id` / `trace_id` when known.
Trace context crosses Kafka as a W3C `traceparent` header (and in each event's
`traceparent` field, so it survives tools that drop headers).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
current_video_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "video_id", default=None
)
_service_name = "reelflow"


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": _service_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        video_id = getattr(record, "video_id", None) or current_video_id.get()
        if video_id:
            entry["video_id"] = video_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = f"{span.trace_id:032x}"
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(service: str, level: str = "INFO", exporter: str = "none",
              extra_processors: Sequence[SpanProcessor] = ()) -> None:
    """Set up JSON logging and the tracer provider for this process."""
    global _service_name
    _service_name = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about coordinator churn that is normal at startup.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)

    provider = TracerProvider(resource=Resource.create({"service.name": f"reelflow-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def trace_headers() -> list[tuple[str, bytes]]:
    parent = current_traceparent()
    return [("traceparent", parent.encode())] if parent else []


def context_from(headers: Sequence[tuple[str, bytes]] | None,
                 fallback_traceparent: str | None = None) -> otel_context.Context:
    carrier = {k: v.decode("latin-1") for k, v in (headers or ()) if k == "traceparent" and v}
    if not carrier and fallback_traceparent:
        carrier["traceparent"] = fallback_traceparent
    return _propagator.extract(carrier)


@contextmanager
def span_from(name: str, headers: Sequence[tuple[str, bytes]] | None,
              fallback_traceparent: str | None = None, **attributes: Any) -> Iterator[trace.Span]:
    """A 'process' span that continues the trace carried by a Kafka record."""
    ctx = context_from(headers, fallback_traceparent)
    with tracer("reelflow").start_as_current_span(
        name, context=ctx, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def batch_span(name: str, records: Sequence[tuple[str, Sequence[tuple[str, bytes]] | None]],
               **attributes: Any) -> Iterator[trace.Span]:
    """A span around work on a batch of Kafka records of many traces (a database batch).

    It links to each record's trace; when it ends, each traced record also gets a
    `project <topic>` span inside its own trace, timed like the batch, so every video's
    trace reaches the batch that applied its event."""
    contexts = [(topic, context_from(headers)) for topic, headers in records]
    traced = [(topic, ctx) for topic, ctx in contexts
              if trace.get_current_span(ctx).get_span_context().is_valid]
    parents = [trace.get_current_span(ctx).get_span_context() for _, ctx in traced]
    # One link per distinct parent (span contexts are not hashable), at most 128.
    links = list({(c.trace_id, c.span_id): Link(c) for c in parents}.values())[:128]
    started = time.time_ns()
    with tracer("reelflow").start_as_current_span(
        name, links=links,
        attributes={"messaging.batch.message_count": len(records), **attributes},
    ) as batch:
        yield batch
    ended, batch_link = time.time_ns(), Link(batch.get_span_context())
    for topic, ctx in traced:
        tracer("reelflow").start_span(f"project {topic}", context=ctx, links=[batch_link],
                                      start_time=started).end(end_time=ended)
