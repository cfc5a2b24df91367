"""Protected playback (issue 14): `PUT /api/v1/videos/{id}/playback-policy` and the
caller's signing keys, `/api/v1/signing-keys` (create: the private key is shown only in
that answer; list; revoke). The work is in `services.ingest.protection`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from services.ingest import contract
from services.ingest.deps import GateDep, ProtectionDep, Who
from services.ingest.idempotency import fingerprint
from services.ingest.protection import NewSigningKey, PolicyBody

router = APIRouter(tags=["playback"])


@router.put("/api/v1/videos/{video_id}/playback-policy", responses=contract.POLICY,
            summary="Set a video's playback policy: public, or signed (tokens required)")
async def set_policy(request: Request, video_id: uuid.UUID,
                     body: Annotated[PolicyBody, Body()], gate: GateDep,
                     protection: ProtectionDep) -> Any:
    async with gate.write(request) as write:
        print_ = fingerprint("PUT", f"{video_id}/playback-policy", body.playback_policy)
        if (replayed := write.replay(print_)) is not None:
            return replayed
        answer = await protection.set_policy(write.caller, str(video_id),
                                             body.playback_policy)
        await gate.done(write, print_, 200, answer)
        return answer


@router.post("/api/v1/signing-keys", status_code=201, responses=contract.NEW_SIGNING_KEY,
             summary="Create an RS256 signing key; its private key is shown only now")
async def create_signing_key(new: Annotated[NewSigningKey, Body()], who: Who,
                             protection: ProtectionDep) -> dict[str, Any]:
    return await protection.create_key(who, new.owner)


@router.get("/api/v1/signing-keys", responses=contract.SIGNING_KEYS,
            summary="The caller's signing keys (the admin's: every key), public keys only")
async def list_signing_keys(who: Who, protection: ProtectionDep) -> dict[str, Any]:
    return {"items": protection.keys_of(who)}


@router.delete("/api/v1/signing-keys/{kid}", responses=contract.SIGNING_KEY,
               summary="Revoke a signing key: every token it signed fails from now on")
async def revoke_signing_key(kid: uuid.UUID, who: Who,
                             protection: ProtectionDep) -> dict[str, Any]:
    return await protection.revoke_key(who, str(kid))
