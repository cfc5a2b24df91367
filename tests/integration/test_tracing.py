"""One trace per video, across four processes: the session's services are restarted with the
OTLP/HTTP exporter pointed at a receiver in this test process, a clip is uploaded, and the
spans the services export are decoded from `ExportTraceServiceRequest` protobuf. One trace
id must cover ingest, transcode, packager and the catalog's projection, hang together from
one root, and hold spans for ffmpeg runs, S3 transfers and the database batch; the
services' logs about the video are JSON lines with its id, that trace id and the service.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from services.shared.settings import CommonSettings
from tests.media import make_clip
from tests.polling import wait_until
from tests.reliability.harness import submit_all, wait_terminal

pytestmark = pytest.mark.integration

SERVICES = ("ingest", "transcode", "packager", "catalog")


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    linked_traces: frozenset[str]


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace endpoint (protobuf, as the Python exporter sends it)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"

    def collected(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                spans += [Span(service.get("service.name", "").removeprefix("reelflow-"),
                               s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                               {a.key: _value(a.value) for a in s.attributes},
                               frozenset(link.trace_id.hex() for link in s.links))
                          for s in scope.spans]
        with self.server.lock:
            self.server.spans += spans
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def restart_services(stack: Any) -> None:
    # Every service, not only the four: the scorer, captions and webhooks continue the
    # video's trace too (the catalog projects their events under their spans), and a span
    # whose parent was never exported would break the trace.
    stack.restart(*(component.name for component in stack.apps))


@pytest.fixture
def receiver(pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """The session's services, restarted to export spans to this test; restarted again
    without the exporter afterwards."""
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The stack hands its own settings to the services, over the environment's.
    monkeypatch.setattr(pipeline.settings.common, "otel_exporter", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "300")
    try:
        restart_services(pipeline)
        yield server
    finally:
        monkeypatch.undo()
        restart_services(pipeline)
        server.shutdown()


def the_trace(spans: list[Span], video_id: str) -> set[str]:
    return {s.trace_id for s in spans if s.attributes.get("reelflow.video_id") == video_id}


def test_one_trace_covers_ingest_transcode_packager_and_the_catalog_projection(
        receiver: Receiver, common_settings: CommonSettings, tmp_path: Path) -> None:
    (video_id,) = submit_all([make_clip(tmp_path / "traced.mp4", 640, 360, seconds=2)],
                             "traced")
    assert wait_terminal(common_settings, [video_id], 600)[video_id] == "ready"

    def covered() -> list[Span] | None:
        spans = receiver.collected()
        ids = the_trace(spans, video_id)
        found = [s for s in spans if s.trace_id in ids]
        # A job's child spans are exported before the job's own span ends (the scorer's
        # run after playback), so wait for the parents too.
        known = {s.span_id for s in found}
        whole = all(s.parent_id in known for s in found if s.parent_id)
        return found if {s.service for s in found} >= set(SERVICES) and whole else None
    with contextlib.suppress(AssertionError):  # the assertions below say what is missing
        wait_until(covered, "spans of all four services", 60)
    spans = receiver.collected()
    ids = the_trace(spans, video_id)
    assert len(ids) == 1, f"the video's spans carry trace ids {ids}"
    (trace_id,) = ids
    trace = [s for s in spans if s.trace_id == trace_id]
    names = {s.name for s in trace}
    print(f"\ntrace {trace_id}: {len(trace)} spans; "
          + ", ".join(f"{svc}: {sum(s.service == svc for s in trace)}" for svc in SERVICES))

    assert {s.service for s in trace} >= set(SERVICES), names
    roots = [s for s in trace if not s.parent_id]
    # One root: ingest's server span of the upload request.
    assert [(r.service, r.attributes.get("http.route")) for r in roots] == [
        ("ingest", "/api/v1/videos")], roots
    assert "ingest upload" in names
    known = {s.span_id for s in trace}
    orphans = [(s.service, s.name) for s in trace if s.parent_id and s.parent_id not in known]
    assert not orphans, f"these spans' parents are missing: {orphans}"
    # The encode itself is traced, not just the probes: transcode's `ffmpeg encode` span
    # holds an `ffmpeg run` child whose command line encodes H.264 (beside it, the
    # thumbnail runs).
    encodes = [s for s in trace if s.name == "ffmpeg encode" and s.service == "transcode"]
    assert len(encodes) == 1, names
    runs = [s for s in trace if s.name == "ffmpeg run" and s.parent_id == encodes[0].span_id]
    assert any("libx264" in str(r.attributes.get("process.command_line")) for r in runs), [
        r.attributes for r in runs]
    assert any(s.name.startswith("s3 ") and s.service == "ingest" for s in trace), names
    assert any(s.name.startswith("s3 ") and s.service == "transcode" for s in trace), names
    assert any(s.name.startswith("project ") and s.service == "catalog" for s in trace), names
    batches = [s for s in spans if s.name == "db batch" and trace_id in s.linked_traces]
    assert batches and all(b.attributes["db.system"] == "postgresql" for b in batches)
    check_logs(common_settings, video_id, trace_id)


def check_logs(common: CommonSettings, video_id: str, trace_id: str) -> None:
    """Every log line about the video is JSON with its id, the trace id and the service."""
    seen: dict[str, int] = {}
    for service in SERVICES:
        log = Path(common.state_dir) / "logs" / f"{service}.log"
        for line in log.read_text(errors="replace").splitlines():
            if video_id not in line:
                continue
            entry = json.loads(line)
            assert entry["service"] == service, entry
            assert entry.get("video_id") == video_id, entry
            assert entry.get("trace_id") == trace_id, entry
            seen[service] = seen.get(service, 0) + 1
    assert {"ingest", "transcode", "packager"} <= seen.keys(), seen
