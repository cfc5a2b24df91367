"""`/api/v1/uploads`: tus 1.0 resumable uploads (core, creation, creation-with-upload,
termination, checksum, expiration) and Mux-style direct uploads.

A keyed upload needs `X-API-Key` on every request and belongs to its key. `POST` without
`Tus-Resumable` asks instead for a one-time direct-upload URL: its tus creation endpoint
needs no key, and the upload it creates is authorised by its unguessable id alone. Bytes
stream into S3 as they arrive (`resumable.py`); the completed source goes through the same
`Submission` as a plain upload: same content rules, same `video-uploaded`, and the final
PATCH, retried, answers the same video and emits nothing new.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from services.ingest import contract, tus, upload_token
from services.ingest.deps import GateDep, Settings, SubmissionDep, Uploads
from services.ingest.errors import Rejection
from services.ingest.resumable import Patch, ResumableUploads, UploadState
from services.ingest.settings import IngestSettings
from services.ingest.submission import Candidate, Submission
from services.ingest.validation import parse_metadata, parse_priority
from services.shared.keyring import API_KEY_HEADER

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

VIDEO_ID_HEADER = "Reelflow-Video-Id"


@router.options("", include_in_schema=False)
@router.options("/{upload_id}", include_in_schema=False)
@router.options("/direct/{token}", include_in_schema=False)
async def discover(settings: Settings) -> Response:
    return Response(status_code=204, headers=tus.discovery_headers(settings.max_upload_bytes))


@router.post("", status_code=201, responses=contract.TUS_CREATE,
             summary="Create a tus upload, or ask for a direct-upload URL")
async def create_upload(request: Request, settings: Settings, gate: GateDep, uploads: Uploads,
                        submission: SubmissionDep) -> Response:
    caller = await gate.caller(request)
    if "tus-resumable" not in request.headers:
        return await _grant_direct(request, settings, uploads, caller.name)
    return await _create(request, settings, uploads, submission, caller.name, direct=False)


@router.post("/direct/{token}", status_code=201, responses=contract.TUS_DIRECT,
             summary="Create a tus upload from a "
             "one-time direct-upload URL (no API key)")
async def create_direct_upload(token: str, request: Request, settings: Settings,
                               uploads: Uploads, submission: SubmissionDep) -> Response:
    tus.check_version(request.headers.get("tus-resumable"))
    key = upload_token.signing_key(settings.upload_token_secret, settings.common.admin_key)
    grant = upload_token.verify(key, token, time.time())
    owner = await uploads.redeem(grant.direct_id)
    return await _create(request, settings, uploads, submission, owner, direct=True)


@router.head("/{upload_id}", responses=contract.TUS_READ,
             summary="Where the upload stands (Upload-Offset)")
async def head_upload(upload_id: str, request: Request, gate: GateDep,
                      uploads: Uploads) -> Response:
    tus.check_version(request.headers.get("tus-resumable"))
    state = await _owned(await uploads.get(upload_id), request, gate)
    headers = _progress(state)
    headers.update({"Upload-Length": str(state.length), "Cache-Control": "no-store"})
    if state.metadata:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=200, headers=headers)


@router.get("/{upload_id}", responses=contract.TUS_READ,
            summary="The upload's progress and, once accepted, its answer")
async def read_upload(upload_id: str, request: Request, gate: GateDep,
                      uploads: Uploads) -> dict[str, Any]:
    state = await _owned(await uploads.get(upload_id), request, gate)
    return {"upload_id": state.upload_id, "offset": state.offset, "length": state.length,
            "expires_at": state.expires_at.isoformat(), "video": state.answer}


@router.patch("/{upload_id}", status_code=204, responses=contract.TUS_PATCH,
              summary="Append bytes at Upload-Offset")
async def patch_upload(upload_id: str, request: Request, settings: Settings, gate: GateDep,
                       uploads: Uploads, submission: SubmissionDep) -> Response:
    tus.check_version(request.headers.get("tus-resumable"))
    tus.check_content_type(request.headers.get("content-type"))
    declared = tus.parse_offset(request.headers.get("upload-offset"))
    checksum = tus.parse_checksum(request.headers.get("upload-checksum"))
    async with uploads.patching(upload_id) as patch:
        await _owned(patch.state, request, gate)
        tus.check_offset(declared, patch.state.offset)
        await _receive(request, patch, checksum, uploads, submission)
        return Response(status_code=204, headers=_progress(patch.state))


@router.delete("/{upload_id}", status_code=204, responses=contract.TUS_TERMINATE,
               summary="Terminate the upload")
async def terminate_upload(upload_id: str, request: Request, gate: GateDep,
                           uploads: Uploads) -> Response:
    tus.check_version(request.headers.get("tus-resumable"))
    async with uploads.patching(upload_id) as patch:
        await _owned(patch.state, request, gate)
        await uploads.terminate(patch)
    return Response(status_code=204, headers={"Tus-Resumable": tus.VERSION})


async def _grant_direct(request: Request, settings: IngestSettings, uploads: ResumableUploads,
                        owner: str) -> Response:
    direct_id, expires_at = await uploads.grant(owner, settings.direct_upload_valid_s)
    key = upload_token.signing_key(settings.upload_token_secret, settings.common.admin_key)
    token = upload_token.sign(key, upload_token.DirectGrant(direct_id,
                                                            int(expires_at.timestamp())))
    url = str(request.url_for("create_direct_upload", token=token))
    return JSONResponse({"url": url, "expires_at": expires_at.isoformat(),
                         "protocol": f"tus {tus.VERSION}"}, status_code=201)


async def _create(request: Request, settings: IngestSettings, uploads: ResumableUploads,
                  submission: Submission, owner: str, direct: bool) -> Response:
    tus.check_version(request.headers.get("tus-resumable"))
    length = tus.parse_length(request.headers.get("upload-length"),
                              request.headers.get("upload-defer-length"),
                              settings.max_upload_bytes)
    raw = request.headers.get("upload-metadata")
    _submission_fields(tus.parse_metadata(raw))  # refuse bad metadata now, not at the end
    with_body = (request.headers.get("content-type") is not None
                 and request.headers.get("content-length", "1") != "0")
    if with_body:
        tus.check_content_type(request.headers.get("content-type"))
    state = await uploads.create(owner, length, raw, direct)
    location = str(request.url_for("head_upload", upload_id=state.upload_id))
    headers = {"Location": location, **_progress(state)}
    if with_body:  # creation-with-upload: the body is the first PATCH
        async with uploads.patching(state.upload_id) as patch:
            await _receive(request, patch, tus.parse_checksum(
                request.headers.get("upload-checksum")), uploads, submission)
            headers.update(_progress(patch.state))
    return Response(status_code=201, headers=headers)


async def _receive(request: Request, patch: Patch, checksum: tus.Checksum | None,
                   uploads: ResumableUploads, submission: Submission) -> None:
    """Stream the body into the upload. Without a checksum every full part is recorded as
    it lands, and a cut connection keeps what arrived (tus: the server SHOULD); with one,
    nothing counts until the whole body matched it (460 otherwise)."""
    start, length = patch.state.offset, patch.state.length
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        tus.check_fits(start, int(declared), length)
    hasher = checksum.hasher() if checksum is not None else None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            tus.check_fits(start, received, length)
            if hasher is not None:
                hasher.update(chunk)
            await uploads.write(patch, chunk, durable_parts=hasher is None)
    except ClientDisconnect:
        if hasher is None:
            await uploads.save(patch)
        return
    if checksum is not None and hasher is not None and not checksum.matches(hasher):
        raise Rejection("checksum_mismatch", f"the PATCH body does not match its "
                        f"Upload-Checksum ({checksum.algorithm}); nothing was kept",
                        tus.CHECKSUM_MISMATCH)
    await uploads.save(patch)
    if patch.state.offset == length and patch.state.answer is None:
        await _complete(patch, uploads, submission)


async def _complete(patch: Patch, uploads: ResumableUploads, submission: Submission) -> None:
    """The whole source is in S3: submit it exactly as a plain upload is submitted. A
    refusal deletes the source (as `Submission` does) and the upload's state with it."""
    state = patch.state
    stored = await uploads.assemble(patch)
    fields = tus.parse_metadata(state.metadata)
    metadata, priority, filename = _submission_fields(fields)
    try:
        # Upload-Metadata may carry playback_policy and encryption too (issue 14).
        policy, encryption = submission.protection(state.owner, fields.get("playback_policy"),
                                                   fields.get("encryption"))
        answer = await submission.accept(Candidate(
            state.video_id, stored.ref, stored, filename, metadata, priority, state.owner,
            "upload", None, policy, encryption))
    except BaseException:
        await uploads.forget(state.upload_id)
        raise
    await uploads.finish(patch, answer)


def _submission_fields(meta: dict[str, str]) -> tuple[dict[str, Any], int, str | None]:
    """The plain upload's form fields, carried as tus metadata: `metadata` (JSON object),
    `priority`, and `filename` (as tus-js-client and Uppy send it)."""
    return (parse_metadata(meta.get("metadata")), parse_priority(meta.get("priority")),
            meta.get("filename"))


async def _owned(state: UploadState | None, request: Request, gate: GateDep) -> UploadState:
    """A direct upload is reached by its id alone; a keyed one only with its key (another
    key's upload is answered as missing, so ids cannot be probed)."""
    if state is None:
        raise Rejection("upload_not_found", "no such upload (or it expired)", 404)
    if state.direct and API_KEY_HEADER.lower() not in request.headers:
        return state
    # Not metered: the key's hourly limit counts uploads (their creation), not the
    # hundreds of PATCHes and HEADs one large upload takes.
    caller, _ = gate.keys.keyring.authenticate(request.headers.get(API_KEY_HEADER),
                                               metered=False)
    if not state.may_use(caller.name, caller.admin):
        raise Rejection("upload_not_found", "no such upload (or it expired)", 404)
    return state


def _progress(state: UploadState) -> dict[str, str]:
    headers = {"Tus-Resumable": tus.VERSION, "Upload-Offset": str(state.offset),
               "Upload-Expires": tus.expires_header(state.expires_at)}
    if state.answer is not None:
        headers[VIDEO_ID_HEADER] = state.video_id
    return headers
