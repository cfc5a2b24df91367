"""Where a tus upload's state lives: a row in `ingest.resumable_uploads` and an S3 multipart
upload, never only in memory, so an upload interrupted on one ingest process resumes on
any other, or after a restart.

Every stored part is exactly `PART_SIZE` (S3's parts must be >= 5 MiB but the last); the
bytes after the last full part, the *tail*, are kept in the row (bytea, < one part), so a
PATCH of any size is durable when acknowledged. A PATCH holds a session-level advisory
lock on its own connection: a second concurrent PATCH gets 423, and a process that dies
mid-PATCH releases the lock with its connection.

SHA-256: hashlib cannot serialise a running hash, so the digest is computed once, when the
upload completes, by streaming the assembled object back from S3 (bounded memory, one
extra read; measured in the README). Keeping the running hash in one process and
recomputing only on takeover would save that read but adds a second path to get wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from schemas import layout
from services.ingest.errors import Rejection, Unavailable
from services.shared.storage import PART_SIZE, ObjectRef, ObjectStore, StoredObject, s3_client

log = logging.getLogger(__name__)

_COLUMNS = ('upload_id, owner, direct, video_id, s3_upload_id, length, "offset", parts, tail,'
            ' metadata, expires_at, answer')


@dataclass
class UploadState:
    upload_id: str
    owner: str
    direct: bool
    video_id: str
    s3_upload_id: str
    length: int
    offset: int
    parts: list[dict[str, Any]]
    tail: bytes
    metadata: str | None
    expires_at: datetime
    answer: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> UploadState:
        return cls(row[0], row[1], row[2], str(row[3]), row[4], row[5], row[6], list(row[7]),
                   bytes(row[8]), row[9], row[10], row[11])

    def may_use(self, caller: str | None, admin: bool) -> bool:
        """A keyed upload belongs to its key; a direct one to whoever holds its URL."""
        return self.direct or admin or caller == self.owner


@dataclass
class Patch:
    """One PATCH in progress on a locked upload: parts go to S3 as they fill."""

    state: UploadState
    conn: psycopg.AsyncConnection[Any]
    buffer: bytearray = field(default_factory=bytearray)
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return len(self.parts) * PART_SIZE + len(self.buffer)


class ResumableUploads:
    def __init__(self, pool: AsyncConnectionPool, store: ObjectStore, dsn: str,
                 s3_settings: Any, expiry_s: float) -> None:
        self.pool = pool
        self.store = store
        self.dsn = dsn
        self.expiry_s = expiry_s
        self._s3 = s3_client(s3_settings)

    async def create(self, owner: str, length: int, metadata: str | None,
                     direct: bool = False) -> UploadState:
        video_id = str(uuid.uuid4())
        ref = self.store.ref(layout.source_key(video_id))
        s3_upload_id = await self._s3_call(
            "create_multipart_upload", Bucket=ref.bucket, Key=ref.key,
            ContentType="application/octet-stream")
        state = UploadState(secrets.token_hex(16), owner, direct, video_id,
                            s3_upload_id["UploadId"], length, 0, [], b"", metadata,
                            datetime.now(UTC) + timedelta(seconds=self.expiry_s))
        try:
            async with self.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO ingest.resumable_uploads (upload_id, owner, direct, video_id,"
                    " s3_upload_id, length, metadata, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (state.upload_id, owner, direct, video_id, state.s3_upload_id, length,
                     metadata, state.expires_at))
        except BaseException:
            await self._abort(state)
            raise
        return state

    async def get(self, upload_id: str) -> UploadState | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM ingest.resumable_uploads WHERE upload_id = %s"
                " AND expires_at > now()", (upload_id,))
            row = await cur.fetchone()
        return UploadState.from_row(row) if row else None

    @asynccontextmanager
    async def patching(self, upload_id: str) -> AsyncIterator[Patch]:
        """The upload, locked for one PATCH on a connection of its own."""
        async with self._locked(upload_id, expired=False) as patch:
            if patch is None:
                raise Rejection("upload_not_found", "no such upload (or it expired)", 404)
            yield patch

    @asynccontextmanager
    async def _locked(self, upload_id: str, expired: bool) -> AsyncIterator[Patch | None]:
        """The live (or, for the sweep, expired) upload under its advisory lock; 423 when
        another connection holds it."""
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        async with conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                     (upload_id,))
            locked = await cur.fetchone()
            if not locked or not locked[0]:
                raise Rejection("upload_locked", "another request is writing this upload; "
                                "retry when it ends", 423)
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM ingest.resumable_uploads WHERE upload_id = %s"
                " AND (expires_at <= now()) = %s", (upload_id, expired))
            try:
                row = await cur.fetchone()
                if row is None:
                    yield None
                    return
                state = UploadState.from_row(row)
                yield Patch(state, conn, bytearray(state.tail), list(state.parts))
            finally:
                # Unlock explicitly: closing the connection would too, but the server ends
                # the session asynchronously, so a client's next PATCH could find the lock
                # still held (423).
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                                       (upload_id,))

    async def write(self, patch: Patch, chunk: bytes, durable_parts: bool) -> None:
        """Append bytes; each full part goes to S3 (and, if `durable_parts`, is recorded)."""
        patch.buffer += chunk
        while len(patch.buffer) >= PART_SIZE:
            with memoryview(patch.buffer) as view:  # one copy of the part, not two
                body = bytes(view[:PART_SIZE])
            number = len(patch.parts) + 1
            etag = await self._upload_part(patch.state, number, body)
            patch.parts.append({"PartNumber": number, "ETag": etag})
            del patch.buffer[:PART_SIZE]
            if durable_parts:
                await self.save(patch, with_tail=False)

    async def save(self, patch: Patch, with_tail: bool = True) -> None:
        """Record the PATCH's progress: the parts, and the tail unless only parts count."""
        tail = bytes(patch.buffer) if with_tail else b""
        offset = len(patch.parts) * PART_SIZE + len(tail)
        await patch.conn.execute(
            'UPDATE ingest.resumable_uploads SET "offset" = %s, parts = %s, tail = %s'
            " WHERE upload_id = %s", (offset, Jsonb(patch.parts), tail, patch.state.upload_id))
        patch.state.offset, patch.state.parts, patch.state.tail = offset, list(patch.parts), tail

    async def assemble(self, patch: Patch) -> StoredObject:
        """Complete the S3 object (the tail is the last part) and hash it, streaming."""
        state = patch.state
        ref = self.source(state)
        parts = list(patch.parts)
        if patch.buffer or not parts:
            etag = await self._upload_part(state, len(parts) + 1, bytes(patch.buffer))
            parts.append({"PartNumber": len(parts) + 1, "ETag": etag})
        if await asyncio.to_thread(self.store.head, ref) is None:
            await self._s3_call("complete_multipart_upload", Bucket=ref.bucket, Key=ref.key,
                                UploadId=state.s3_upload_id, MultipartUpload={"Parts": parts})
        started = time.perf_counter()
        sha256 = await asyncio.to_thread(self._sha256, ref)
        log.info("assembled %s: %d bytes, SHA-256 read back in %.2f s", ref.uri,
                 state.length, time.perf_counter() - started)
        return StoredObject(ref, state.length, sha256)

    async def finish(self, patch: Patch, answer: dict[str, Any]) -> None:
        await patch.conn.execute(
            "UPDATE ingest.resumable_uploads SET answer = %s WHERE upload_id = %s",
            (Jsonb(answer), patch.state.upload_id))
        patch.state.answer = answer

    async def forget(self, upload_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM ingest.resumable_uploads WHERE upload_id = %s",
                               (upload_id,))

    async def terminate(self, patch: Patch) -> None:
        """tus termination: the multipart upload is aborted and the state deleted."""
        if patch.state.answer is None:
            await self._abort(patch.state)
        await patch.conn.execute("DELETE FROM ingest.resumable_uploads WHERE upload_id = %s",
                                 (patch.state.upload_id,))

    async def sweep(self) -> int:
        """Expire abandoned uploads: abort their S3 multipart upload, delete their state.
        An upload being written right now (locked) is left for the next sweep."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT upload_id FROM ingest.resumable_uploads WHERE expires_at <= now()")
            expired = [row[0] for row in await cur.fetchall()]
            await conn.execute("DELETE FROM ingest.direct_uploads WHERE expires_at <= now()")
        swept = 0
        for upload_id in expired:
            try:
                async with self._locked(upload_id, expired=True) as patch:
                    if patch is not None:
                        await self.terminate(patch)
                        swept += 1
            except Rejection:
                continue  # locked: a PATCH is running; the next sweep sees it again
        return swept

    # Direct uploads: a one-time grant, consumed by the creation it allows.

    async def grant(self, owner: str, valid_s: float) -> tuple[str, datetime]:
        direct_id = secrets.token_hex(16)
        expires_at = datetime.now(UTC) + timedelta(seconds=valid_s)
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO ingest.direct_uploads (direct_id, owner, expires_at)"
                               " VALUES (%s, %s, %s)", (direct_id, owner, expires_at))
        return direct_id, expires_at

    async def redeem(self, direct_id: str) -> str:
        """The grant's owner, once: a second use of the URL is refused (410)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE ingest.direct_uploads SET used_at = now() WHERE direct_id = %s"
                " AND used_at IS NULL AND expires_at > now() RETURNING owner", (direct_id,))
            row = await cur.fetchone()
        if row is None:
            raise Rejection("upload_url_used", "this upload URL was already used or has "
                            "expired; ask for a new one", 410)
        return str(row[0])

    def source(self, state: UploadState) -> ObjectRef:
        return self.store.ref(layout.source_key(state.video_id))

    async def _upload_part(self, state: UploadState, number: int, body: bytes) -> str:
        """A part number written again replaces the earlier bytes: a PATCH refused after
        some of its parts reached S3 leaves nothing the recorded parts list refers to."""
        ref = self.source(state)
        answer = await self._s3_call("upload_part", Bucket=ref.bucket, Key=ref.key,
                                     UploadId=state.s3_upload_id, PartNumber=number, Body=body)
        return str(answer["ETag"])

    async def _abort(self, state: UploadState) -> None:
        ref = self.source(state)
        try:
            await self._s3_call("abort_multipart_upload", Bucket=ref.bucket, Key=ref.key,
                                UploadId=state.s3_upload_id)
        except Unavailable as exc:
            log.warning("abort of %s failed: %s", ref.uri, exc)

    async def _s3_call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._s3, operation), **kwargs)
        except ClientError as exc:
            if (operation == "abort_multipart_upload"
                    and exc.response.get("Error", {}).get("Code") == "NoSuchUpload"):
                return {}  # already gone: what an abort wants
            raise Unavailable(f"object storage failed ({operation})") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object storage failed ({operation})") from exc

    def _sha256(self, ref: ObjectRef) -> str:
        digest = hashlib.sha256()
        body = self.store.stream(ref)["Body"]
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
        return digest.hexdigest()

