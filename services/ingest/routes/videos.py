"""`POST /api/v1/videos` (upload), `DELETE /api/v1/videos/{id}` (cancel) and
`POST /api/v1/videos/{id}/reprocess`. Who is calling comes first (401 before anything
else); every write honours Idempotency-Key through the gate."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from python_multipart.multipart import parse_options_header

from schemas import layout
from services.ingest import contract
from services.ingest.deps import GateDep, ReworkDep, Settings, Store, Streaming, SubmissionDep
from services.ingest.errors import Rejection
from services.ingest.idempotency import fingerprint
from services.ingest.rework import parse_rework
from services.ingest.submission import Candidate
from services.ingest.upload import receive_form
from services.ingest.validation import parse_captions, parse_metadata, parse_priority
from services.shared import telemetry

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])

#: A reprocess body is `{profile?, renditions?}`; anything far bigger is a mistake.
MAX_REWORK_BYTES = 65536


@router.post("", status_code=202, responses=contract.UPLOAD, openapi_extra=contract.UPLOAD_FORM)
async def upload_video(request: Request, settings: Settings, store: Store, gate: GateDep,
                       submission: SubmissionDep, streaming: Streaming) -> Any:
    """Upload a video (multipart: `file`, optional `metadata`, `thumbnail`, `priority`,
    `captions`, `captions_language`)."""
    async with gate.write(request) as write:
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
        source = store.ref(layout.source_key(video_id))
        with telemetry.tracer("reelflow.ingest").start_as_current_span(
            "ingest upload", attributes={"reelflow.video_id": video_id}
        ):
            async with streaming:  # bounded memory: waits its turn, body unread
                form = await receive_form(
                    request.stream(), options[b"boundary"],
                    lambda: store.multipart(source, "application/octet-stream",
                                            part_size=settings.upload_part_mib * 2**20,
                                            in_flight=settings.upload_parts_in_flight),
                    settings.max_upload_bytes, settings.max_thumbnail_bytes,
                )
            assert form.stored is not None
            try:
                asked = (form.fields.get("playback_policy"), form.fields.get("encryption"))
                spoken = (form.fields.get("captions"), form.fields.get("captions_language"))
                print_ = fingerprint("POST", "videos", form.stored.sha256,
                                     form.fields.get("metadata"),
                                     form.fields.get("priority"), form.thumbnail,
                                     # only when sent: older keys keep their fingerprint
                                     *(asked if any(asked) else ()),
                                     *(spoken if any(s is not None for s in spoken) else ()))
                if (replayed := write.replay(print_)) is not None:
                    await submission.discard(source)  # the first request's copy is the one
                    return replayed
                metadata = parse_metadata(form.fields.get("metadata"))
                priority = parse_priority(form.fields.get("priority"))
                policy, encryption = submission.protection(write.caller.name, *asked)
                captions = parse_captions(*spoken)
            except BaseException:
                await submission.discard(source)
                raise
            answer = await submission.accept(Candidate(
                video_id, source, form.stored, form.filename, metadata, priority,
                write.caller.name, "upload", form.thumbnail, policy, encryption, captions))
        await gate.done(write, print_, 202, answer)
        return answer


@router.delete("/{video_id}", status_code=202, responses=contract.CANCEL)
async def cancel_video(request: Request, video_id: uuid.UUID, gate: GateDep,
                       rework: ReworkDep, reason: str = "") -> Any:
    """Cancel a video: transcode stops its work, the catalog shows it cancelled."""
    async with gate.write(request) as write:
        print_ = fingerprint("DELETE", str(video_id), reason)
        if (replayed := write.replay(print_)) is not None:
            return replayed
        answer = await rework.cancel(write.caller, str(video_id), reason)
        await gate.done(write, print_, 202, answer)
        return answer


@router.post("/{video_id}/reprocess", status_code=202, responses=contract.REPROCESS,
             openapi_extra=contract.REPROCESS_BODY)
async def reprocess_video(request: Request, video_id: uuid.UUID, gate: GateDep,
                          rework: ReworkDep) -> Any:
    """Run a video again as a new attempt: optional JSON `{profile?, renditions?}`."""
    async with gate.write(request) as write:
        raw = await request.body()
        print_ = fingerprint("POST", f"{video_id}/reprocess", raw)
        if (replayed := write.replay(print_)) is not None:
            return replayed
        if len(raw) > MAX_REWORK_BYTES:
            raise Rejection("request_too_large",
                            f"the reprocess body is over {MAX_REWORK_BYTES} bytes", 413)
        answer = await rework.reprocess(write.caller, str(video_id), parse_rework(raw))
        await gate.done(write, print_, 202, answer)
        return answer
