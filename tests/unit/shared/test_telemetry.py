"""Tracing helpers: a database batch over records of several traces links to each, and every
traced record gets a span inside its own trace; untraced or garbled headers add nothing."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.shared import telemetry


def test_a_batch_span_links_every_trace_and_continues_each_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own, not the process-wide one
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(telemetry, "tracer", provider.get_tracer)
    parents = []
    for name in ("upload a", "upload b"):
        with telemetry.tracer("unit").start_as_current_span(name) as span:
            parents.append((span.get_span_context(), telemetry.trace_headers()))
    (a, a_headers), (b, b_headers) = parents
    records = [("video-uploaded", a_headers), ("rendition-done", a_headers),
               ("video-uploaded", b_headers), ("dead-letter", None),
               ("video-uploaded", [("traceparent", b"not a traceparent")])]

    with telemetry.batch_span("db batch", records, **{"db.system": "postgresql"}):
        pass

    spans: dict[str, list[ReadableSpan]] = {}
    for finished in exported.get_finished_spans():
        spans.setdefault(finished.name, []).append(finished)
    (batch,) = spans["db batch"]
    assert {link.context.span_id for link in batch.links} == {a.span_id, b.span_id}
    assert (batch.attributes or {})["messaging.batch.message_count"] == 5
    projected = spans["project video-uploaded"] + spans["project rendition-done"]
    assert sorted((s.context.trace_id, s.parent.span_id) for s in projected if s.parent) == \
        sorted([(a.trace_id, a.span_id), (a.trace_id, a.span_id), (b.trace_id, b.span_id)])
    assert "project dead-letter" not in spans
