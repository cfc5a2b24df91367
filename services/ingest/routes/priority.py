"""`PATCH /api/v1/videos/{id}`: change the priority of a video that waits for a worker."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from services.ingest import contract
from services.ingest.deps import GateDep, ReprioritisationDep
from services.ingest.errors import Rejection
from services.ingest.idempotency import fingerprint
from services.ingest.priority import parse_priority_change

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])

#: The body is `{"priority": n}`; anything far bigger is a mistake.
MAX_BODY_BYTES = 4096


@router.patch("/{video_id}", status_code=202, responses=contract.REPRIORITISE,
              openapi_extra=contract.REPRIORITISE_BODY)
async def reprioritise_video(request: Request, video_id: uuid.UUID, gate: GateDep,
                             work: ReprioritisationDep) -> Any:
    """Change the priority (1-10) of a video whose attempt has not started transcoding."""
    async with gate.write(request) as write:
        raw = await request.body()
        print_ = fingerprint("PATCH", str(video_id), raw)
        if (replayed := write.replay(print_)) is not None:
            return replayed
        if len(raw) > MAX_BODY_BYTES:
            raise Rejection("request_too_large", f"the body is over {MAX_BODY_BYTES} bytes", 413)
        answer = await work.reprioritise(write.caller, str(video_id),
                                         parse_priority_change(raw))
        await gate.done(write, print_, 202, answer)
        return answer
