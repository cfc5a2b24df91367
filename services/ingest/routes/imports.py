"""`POST /api/v1/videos/import`: a video already stored elsewhere, copied into Reelflow."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request

from schemas import layout
from services.ingest import contract
from services.ingest.deps import GateDep, Settings, Store, SubmissionDep
from services.ingest.errors import Rejection, Unavailable
from services.ingest.idempotency import fingerprint
from services.ingest.importer import copy_into, parse_source_uri
from services.ingest.submission import Candidate
from services.ingest.validation import parse_captions, parse_metadata, parse_priority
from services.shared import telemetry
from services.shared.storage import StorageError

router = APIRouter(tags=["videos"])

#: An import request is a few hundred bytes of JSON; anything far bigger is a mistake.
MAX_IMPORT_REQUEST_BYTES = 1024 * 1024


@router.post("/api/v1/videos/import", status_code=202, responses=contract.IMPORT,
             openapi_extra=contract.IMPORT_BODY)
async def import_video(request: Request, settings: Settings, store: Store, gate: GateDep,
                       submission: SubmissionDep) -> Any:
    """Import a video already stored elsewhere: JSON `{source_uri, metadata?, priority?,
    captions?, captions_language?}`.

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
            raise Rejection("invalid_json", "send a JSON object: {source_uri, metadata?, "
                            "priority?, playback_policy?, encryption?}", 400) from None
        if not isinstance(body, dict):
            raise Rejection("invalid_json", "the request body must be a JSON object", 400)
        wanted = parse_source_uri(body.get("source_uri"))
        # Cheap checks before the copy, so a bad request costs no bytes moved.
        metadata = parse_metadata(_as_text(body.get("metadata")))
        priority = parse_priority(_priority_text(body.get("priority")))
        captions = parse_captions(body.get("captions"), body.get("captions_language"))
        policy, encryption = submission.protection(
            write.caller.name, _as_choice(body.get("playback_policy")),
            _as_choice(body.get("encryption")))
        video_id = str(uuid.uuid4())
        telemetry.current_video_id.set(video_id)
        source = store.ref(layout.source_key(video_id))
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
            answer = await submission.accept(Candidate(
                video_id, source, stored, wanted.filename, metadata, priority,
                write.caller.name, "import", None, policy, encryption, captions))
        await gate.done(write, print_, 202, answer)
        return answer


def _as_text(metadata: object) -> str | None:
    """Import takes metadata as a JSON object (or its text, like the upload form field)."""
    if metadata is None or isinstance(metadata, str):
        return metadata
    return json.dumps(metadata)


def _as_choice(value: object) -> str | None:
    """A choice field's text; anything else is refused by parse_protection's sentence."""
    return None if value is None else value if isinstance(value, str) else repr(value)


def _priority_text(priority: object) -> str | None:
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, (int, str)):
        # parse_priority's sentence for a non-integer, rather than silently truncating 7.5.
        return repr(priority)
    return str(priority)
