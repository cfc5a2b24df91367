"""Ingest HTTP API: upload (`POST /api/v1/videos`) and import of a source stored elsewhere
(`POST /api/v1/videos/import`); cancel and reprocess live in `rework`, key administration
in `keys`. A `202` means the source is durably stored and `video-uploaded` is durably on
Kafka (acks=all, idempotent producer). Every refusal is a coded 4xx that leaves nothing
behind in storage and emits no event. Every write needs `X-API-Key` (see `gate`); the
video's `owner` is the key's name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from python_multipart.multipart import parse_options_header

from schemas import VIDEO_UPLOADED
from services.ingest.errors import Rejection, Unavailable
from services.ingest.gate import Write
from services.ingest.idempotency import fingerprint
from services.ingest.importer import copy_into, parse_source_uri
from services.ingest.keys import admin_router
from services.ingest.rework import rework_router
from services.ingest.settings import IngestSettings
from services.ingest.state import IngestState
from services.ingest.upload import receive_form
from services.ingest.validation import (
    parse_metadata,
    parse_priority,
    source_info,
    thumbnail_kind,
)
from services.shared import keyring, telemetry
from services.shared.events import new_event_id, now
from services.shared.media import probing
from services.shared.media.errors import ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.producer import EventProducer
from services.shared.storage import ObjectRef, ObjectStore, StorageError, StoredObject

log = logging.getLogger(__name__)

HTTP_SECONDS = Histogram("reelflow_ingest_http_request_seconds", "Ingest HTTP latency",
                         ["method", "route", "status"])
REFUSALS = Counter("reelflow_ingest_refusals_total", "Refused submissions", ["error"])
ACCEPTED = Counter("reelflow_ingest_accepted_total", "Accepted videos", ["origin"])
BYTES_IN = Counter("reelflow_ingest_bytes_total", "Source bytes stored")


def create_app(settings: IngestSettings, producer: EventProducer, store: ObjectStore,
               state: IngestState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with state.running(producer):
            yield

    app = FastAPI(title="Reelflow ingest", version="1", lifespan=lifespan)
    keyring.install(app)
    gate, ledger = state.gate, state.ledger
    app.include_router(admin_router(state.keys, gate.caller))
    app.include_router(rework_router(settings, gate, producer, state.pool, ledger))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own checks (path UUIDs, the key-admin body) as coded refusals too."""
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors())
        REFUSALS.labels("invalid_request").inc()
        return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)

    @app.exception_handler(Unavailable)
    async def on_unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        HTTP_SECONDS.labels(request.method, getattr(route, "path", "unmatched"),
                            str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(Rejection)
    async def on_rejection(_: Request, exc: Rejection) -> JSONResponse:
        REFUSALS.labels(exc.code).inc()
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    async def health() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(store.head, store.ref("health-probe"))
            checks["s3"] = "ok"
        except StorageError as exc:
            checks["s3"] = f"error: {exc}"
        checks["kafka"] = "ok" if await producer.healthy() else "error: broker unreachable"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", "checks": checks},
                            status_code=200 if healthy else 503)

    @app.post("/api/v1/videos", status_code=202)
    async def upload_video(request: Request) -> Any:
        """Upload a video (multipart: `file`, optional `metadata`, `thumbnail`, `priority`)."""
        async with gate.write(request) as write:  # who is calling comes first (401)
            ctype, options = parse_options_header(request.headers.get("content-type", ""))
            if ctype != b"multipart/form-data" or not options.get(b"boundary"):
                raise Rejection("not_multipart", "send the video as multipart/form-data", 415)
            declared = request.headers.get("content-length")
            limit = settings.max_upload_bytes
            if declared and declared.isdigit() and int(declared) > limit + 2**20:
                raise Rejection("file_too_large", f"upload of {declared} bytes exceeds the "
                                f"maximum of {limit} bytes", 413)
            video_id = str(uuid.uuid4())
            telemetry.current_video_id.set(video_id)
            source = store.ref(f"sources/{video_id}/original")
            with telemetry.tracer("reelflow.ingest").start_as_current_span(
                "ingest upload", attributes={"reelflow.video_id": video_id}
            ):
                form = await receive_form(
                    request.stream(), options[b"boundary"],
                    lambda: store.multipart(source, "application/octet-stream"),
                    settings.max_upload_bytes, settings.max_thumbnail_bytes,
                )
                assert form.stored is not None
                created: list[ObjectRef] = [source]
                try:
                    print_ = fingerprint("POST", "videos", form.stored.sha256,
                                         form.fields.get("metadata"),
                                         form.fields.get("priority"), form.thumbnail)
                    if (replayed := write.replay(print_)) is not None:
                        await _forget_all(created)  # the first request's copy is the one
                        return replayed
                    metadata = parse_metadata(form.fields.get("metadata"))
                    priority = parse_priority(form.fields.get("priority"))
                    return await _accept(write, print_, video_id, form.stored, form.filename,
                                         metadata, priority, form.thumbnail, created,
                                         origin="upload")
                except BaseException:
                    await _forget_all(created)
                    raise

    @app.post("/api/v1/videos/import", status_code=202)
    async def import_video(request: Request) -> Any:
        """Import a video already stored elsewhere: JSON `{source_uri, metadata?, priority?}`.

        `source_uri` is `s3://bucket/key` or a server path under an allowed import root.
        The bytes are copied (and hashed while copied) into Reelflow's own immutable
        `sources/{video_id}/original`, then validated exactly like an upload.
        """
        async with gate.write(request) as write:  # who is calling comes first (401)
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_IMPORT_REQUEST_BYTES:
                raise Rejection("request_too_large", "the import request body is over "
                                f"{MAX_IMPORT_REQUEST_BYTES} bytes", 413)
            raw = await request.body()
            print_ = fingerprint("POST", "videos/import", raw)
            if (replayed := write.replay(print_)) is not None:
                return replayed
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise Rejection("invalid_json", "send a JSON object: "
                                "{source_uri, metadata?, priority?}", 400) from None
            if not isinstance(body, dict):
                raise Rejection("invalid_json", "the request body must be a JSON object", 400)
            wanted = parse_source_uri(body.get("source_uri"))
            # Cheap checks before the copy, so a bad request costs no bytes moved.
            metadata = parse_metadata(_as_text(body.get("metadata")))
            priority = parse_priority(_priority_text(body.get("priority")))
            video_id = str(uuid.uuid4())
            telemetry.current_video_id.set(video_id)
            source = store.ref(f"sources/{video_id}/original")
            with telemetry.tracer("reelflow.ingest").start_as_current_span(
                "ingest import", attributes={"reelflow.video_id": video_id,
                                             "reelflow.import_source": wanted.uri}
            ):
                try:
                    stored = await asyncio.to_thread(copy_into, wanted, store, source,
                                                     settings.import_roots,
                                                     settings.max_upload_bytes)
                except StorageError as exc:
                    raise Unavailable(f"object storage failed during the import ({exc}); "
                                      "nothing was kept, retry later") from exc
                created: list[ObjectRef] = [source]
                try:
                    return await _accept(write, print_, video_id, stored, wanted.filename,
                                         metadata, priority, None, created, origin="import")
                except BaseException:
                    await _forget_all(created)
                    raise

    async def _forget_all(created: list[ObjectRef]) -> None:
        for ref in created:
            await asyncio.to_thread(_forget, store, ref)

    async def _accept(write: Write, print_: str, video_id: str, stored: StoredObject,
                      filename: str | None, metadata: dict[str, Any], priority: int,
                      thumbnail: bytes | None, created: list[ObjectRef],
                      origin: str) -> dict[str, Any]:
        """Probe, validate and publish a source already stored at `created[0]`.

        Shared by upload and import so both refuse the same things the same way. The
        caller deletes everything in `created` if this raises.
        """
        source = created[0]
        size, sha256 = stored.size_bytes, stored.sha256
        probe = await _probe(store.presigned_get(source))
        thumbnail_uri = None
        if thumbnail is not None:
            ext, content_type = thumbnail_kind(thumbnail, settings.max_thumbnail_bytes)
            ref = store.ref(f"sources/{video_id}/thumbnail.{ext}")
            created.append(ref)
            await asyncio.to_thread(store.put_bytes, thumbnail, ref, content_type)
            thumbnail_uri = ref.uri
        event = {
            "event_id": new_event_id(),
            "video_id": video_id,
            "occurred_at": now(),
            "source_uri": source.uri,
            "attempt": 1,
            "source_sha256": sha256,
            "source_size_bytes": size,
            "source_filename": filename,
            "source_info": source_info(probe),
            "user_metadata_json": json.dumps(metadata),
            "priority": priority,
            "custom_thumbnail_uri": thumbnail_uri,
            "origin": origin,
            "owner": write.caller.name,
        }
        try:
            await producer.publish(VIDEO_UPLOADED, event, timeout_s=settings.publish_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); nothing was kept, "
                              "retry later") from exc
        log.info("accepted %s by %s (%d bytes, %s)", video_id, origin, size, probe.container)
        ACCEPTED.labels(origin).inc()
        BYTES_IN.inc(size)
        await _record(event)
        answer = {
            "video_id": video_id,
            "status": "uploaded",
            "attempt": 1,
            "priority": priority,
            "source": {"uri": source.uri, "size_bytes": size, "sha256": sha256},
            "links": {
                "self": f"{settings.catalog_url}/api/v1/videos/{video_id}",
                "events": f"{settings.catalog_url}/api/v1/videos/{video_id}/events",
            },
        }
        await gate.done(write, print_, 202, answer)
        return answer

    async def _record(event: dict[str, Any]) -> None:
        """Into ingest's ledger now, so a reprocess right after this answer finds the video.
        Best effort: the event is durable, and ingest's consumer records it anyway."""
        try:
            await ledger.record(event)
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("recording %s in the ledger failed (%s); the consumer will",
                        event["video_id"], exc)

    async def _probe(url: str) -> SourceProbe:
        try:
            probe = await probing.inspect_source(url, settings.common, settings.source_limits)
        except ProbeError as exc:
            raise Rejection(exc.code, _REFUSALS.get(exc.code, str(exc))) from exc
        return probe

    return app


#: An import request is a few hundred bytes of JSON; anything far bigger is a mistake.
MAX_IMPORT_REQUEST_BYTES = 1024 * 1024


def _as_text(metadata: object) -> str | None:
    """Import takes metadata as a JSON object (or its text, like the upload form field)."""
    if metadata is None or isinstance(metadata, str):
        return metadata
    return json.dumps(metadata)


def _priority_text(priority: object) -> str | None:
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, (int, str)):
        # parse_priority's sentence for a non-integer, rather than silently truncating 7.5.
        return repr(priority)
    return str(priority)


_REFUSALS = {
    "not_media": "the upload is not a video or audio file FFmpeg can read",
    "no_streams": "the upload has no video or audio stream",
    "no_duration": "the upload has no usable duration",
    "undecodable": "the upload is corrupt: its first video frames do not decode",
}


def _forget(store: ObjectStore, ref: ObjectRef) -> None:
    try:
        store.delete(ref)
    except StorageError:
        log.exception("could not delete refused object %s", ref.uri)
