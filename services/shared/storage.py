"""Object storage (S3 API) for sources, renditions and packages.

Every object Reelflow writes is immutable once referenced by an event: writers use
attempt-scoped keys, and an object becomes visible to other services only through the
event that names it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry import trace
from prometheus_client import Counter

from services.shared import telemetry
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

#: S3 requires parts of at least 5 MiB (except the last one).
PART_SIZE_MIN = 5 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
#: Files below this go up in one PUT; above it, boto3's managed (multipart) transfer.
SINGLE_PUT_MAX = 8 * 1024 * 1024
#: Uploads `put_files` keeps in flight (within botocore's pool of 10 connections).
PUT_CONCURRENCY = 8

BYTES = Counter("reelflow_storage_bytes_total",
                "Object bytes read from (in) and written to (out) S3", ["direction"])


@contextmanager
def _transfer(operation: str, ref: ObjectRef, direction: str,
              size: int | None = None) -> Iterator[trace.Span]:
    """A client span around one S3 transfer; counts its bytes once it succeeded."""
    with telemetry.tracer("reelflow.s3").start_as_current_span(
        f"s3 {operation}", kind=trace.SpanKind.CLIENT,
        attributes={"aws.s3.bucket": ref.bucket, "aws.s3.key": ref.key},
    ) as span:
        yield span
        if size is not None:
            span.set_attribute("reelflow.bytes", size)
            BYTES.labels(direction).inc(size)


class FileUpload(NamedTuple):
    """One file for `ObjectStore.put_files`, in `put_file`'s argument order."""

    path: Path
    ref: ObjectRef
    content_type: str
    cache_control: str | None = None
    sha256: str | None = None


class StorageError(Exception):
    """S3 failed. Usually transient (network, gateway restart)."""


class ObjectMissing(StorageError):
    """The object named by an event does not exist: permanent for that event."""


class ChecksumMismatch(Exception):
    """The bytes read do not match the SHA-256 the event promised."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> ObjectRef:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StoredObject:
    ref: ObjectRef
    size_bytes: int
    sha256: str


def s3_client(settings: CommonSettings) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name=settings.s3_region,
        config=Config(
            # No SigV4 payload hash: over plain http botocore would otherwise SHA-256 every
            # body a second time (we hash every byte ourselves and verify it downstream).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            retries={"max_attempts": 3, "mode": "standard"},
            # We hash every byte ourselves (SHA-256 travels in the events); botocore's extra
            # per-part checksums over plain http cost as much CPU again for nothing.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=5,
            read_timeout=60,
        ),
    )


class ObjectStore:
    """Thin, typed wrapper over boto3 for the operations the services need."""

    def __init__(self, settings: CommonSettings) -> None:
        self.bucket = settings.s3_bucket
        self._s3 = s3_client(settings)
        self._part_buffers: dict[int, PartBuffers] = {}
        self._pools_lock = threading.Lock()

    def ref(self, key: str) -> ObjectRef:
        return ObjectRef(self.bucket, key)

    def put_file(
        self, path: Path, ref: ObjectRef, content_type: str, cache_control: str | None = None,
        sha256: str | None = None,
    ) -> StoredObject:
        """Upload `path`; `sha256`: its hash when the caller already read every byte for it
        (transcode hashes each output as it describes it), so it is not read twice."""
        if sha256 is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                    digest.update(chunk)
            sha256 = digest.hexdigest()
        extra = {"ContentType": content_type}
        if cache_control:
            extra["CacheControl"] = cache_control
        size = path.stat().st_size
        try:
            with _transfer("put", ref, "out", size):
                if size < SINGLE_PUT_MAX:
                    # One PUT: upload_file would set up a transfer manager and its threads
                    # for each of a package's hundreds of small segments.
                    with path.open("rb") as body:
                        self._s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=body, **extra)
                else:
                    self._s3.upload_file(str(path), ref.bucket, ref.key, ExtraArgs=extra)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"upload of {ref.uri} failed: {exc}") from exc
        return StoredObject(ref, size, sha256)

    def put_files(self, uploads: Sequence[FileUpload], *,
                  concurrency: int = PUT_CONCURRENCY) -> list[StoredObject]:
        """Upload many files at once, results in the order given. An S3 PUT of a small
        object is round-trip bound, and a package is hundreds of segments. The first
        failure is raised once every upload has ended."""
        if len(uploads) <= 1 or concurrency <= 1:
            return [self._put_one(u) for u in uploads]
        with ThreadPoolExecutor(max_workers=min(concurrency, len(uploads)),
                                thread_name_prefix="s3-put") as pool:
            # Each upload keeps the caller's trace context, so its span stays in the job's.
            futures = [pool.submit(contextvars.copy_context().run, self._put_one, u)
                       for u in uploads]
        return [f.result() for f in futures]

    def _put_one(self, upload: FileUpload) -> StoredObject:
        return self.put_file(upload.path, upload.ref, upload.content_type,
                             upload.cache_control, upload.sha256)

    def put_bytes(self, data: bytes, ref: ObjectRef, content_type: str,
                  cache_control: str | None = None) -> StoredObject:
        extra: dict[str, str] = {"ContentType": content_type}
        if cache_control:
            extra["CacheControl"] = cache_control
        try:
            with _transfer("put", ref, "out", len(data)):
                self._s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"upload of {ref.uri} failed: {exc}") from exc
        return StoredObject(ref, len(data), hashlib.sha256(data).hexdigest())

    def download(self, ref: ObjectRef, dest: Path, expected_sha256: str | None = None) -> str:
        """Stream an object to a local file, verifying its SHA-256 on the way."""
        digest = hashlib.sha256()
        try:
            with _transfer("get", ref, "in") as span:
                body = self._s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
                with dest.open("wb") as out:
                    for chunk in body.iter_chunks(1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
                size = dest.stat().st_size
                span.set_attribute("reelflow.bytes", size)
                BYTES.labels("in").inc(size)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ObjectMissing(f"{ref.uri} does not exist") from exc
            raise StorageError(f"download of {ref.uri} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"download of {ref.uri} failed: {exc}") from exc
        actual = digest.hexdigest()
        if expected_sha256 and actual != expected_sha256.lower():
            raise ChecksumMismatch(
                f"{ref.uri} has SHA-256 {actual}, but the event promised {expected_sha256}"
            )
        return actual

    def stream(self, ref: ObjectRef, byte_range: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if byte_range:
            kwargs["Range"] = byte_range
        try:
            return self._s3.get_object(**kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(f"{ref.uri} does not exist") from exc
            raise StorageError(str(exc)) from exc

    def head(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return self._s3.head_object(Bucket=ref.bucket, Key=ref.key)  # type: ignore[no-any-return]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StorageError(str(exc)) from exc

    def delete(self, ref: ObjectRef) -> None:
        try:
            self._s3.delete_object(Bucket=ref.bucket, Key=ref.key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"delete of {ref.uri} failed: {exc}") from exc

    def copy(self, source: ObjectRef, dest: ObjectRef) -> None:
        try:
            with _transfer("copy", dest, "out"):
                self._s3.copy({"Bucket": source.bucket, "Key": source.key}, dest.bucket,
                              dest.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(f"{source.uri} does not exist") from exc
            raise StorageError(str(exc)) from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def presigned_get(self, ref: ObjectRef, expires: int = 3600) -> str:
        return self._s3.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object", Params={"Bucket": ref.bucket, "Key": ref.key}, ExpiresIn=expires
        )

    def multipart(self, ref: ObjectRef, content_type: str, *, part_size: int = PART_SIZE,
                  in_flight: int = 1) -> MultipartUpload:
        with self._pools_lock:
            buffers = self._part_buffers.setdefault(part_size, PartBuffers(part_size))
        return MultipartUpload(self._s3, ref, content_type, part_size=part_size,
                               in_flight=in_flight, buffers=buffers)


class PartBuffers:
    """Part-sized buffers that uploads of one store take, fill and give back.

    A fresh 8 MiB bytearray is a fresh mapping (see ingest's `return_parts_to_the_os`):
    zeroing it faults in its 2,048 pages, and the kernel zeroes each again. Reusing the
    buffer of a stored part costs neither (`./run bench ingest`, pages faulted per GiB).

    Bounded by what open uploads may hold at once: each reserves its window + 1 buffers
    for its lifetime, and the pool keeps no more free buffers than are reserved, except
    those of uploads that just ended, for `linger_s` (the next upload of a wave usually
    begins within it); then they go back to the OS.
    """

    def __init__(self, part_size: int, *, linger_s: float = 2.0) -> None:
        self.part_size = part_size
        self.linger_s = linger_s
        self._free: list[bytearray] = []
        self._reserved = 0
        self._in_use = 0
        self._surplus_until = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        #: Buffers made fresh so far (the rest of `take()`s were reused).
        self.allocated = 0

    @property
    def free(self) -> int:
        return len(self._free)

    def reserve(self, count: int) -> None:
        with self._lock:
            self._reserved += count

    def unreserve(self, count: int) -> None:
        """An upload ended: its buffers may go, once they have lingered."""
        with self._lock:
            self._reserved -= count
            if len(self._free) > self._room():
                self._surplus_until = time.monotonic() + self.linger_s
                self._arm_timer()

    def take(self) -> bytearray:
        """A buffer of exactly `part_size` bytes whose content is to be overwritten."""
        with self._lock:
            self._in_use += 1
            if self._free:
                return self._free.pop()
            self.allocated += 1
        return bytearray(self.part_size)

    def give(self, buffer: bytearray) -> None:
        """`buffer`'s part is stored (or will never be sent): it may serve another part.
        One of another length is dropped instead."""
        with self._lock:
            self._in_use -= 1
            if len(buffer) != self.part_size:
                return
            surplus = len(self._free) >= self._room()
            if not surplus or time.monotonic() < self._surplus_until:
                self._free.append(buffer)
                if surplus:
                    self._arm_timer()

    def discard(self) -> None:
        """A taken buffer is not coming back (its part failed: boto3 may still hold it)."""
        with self._lock:
            self._in_use -= 1

    def _room(self) -> int:
        return max(0, self._reserved - self._in_use)

    def _arm_timer(self) -> None:
        if self._timer is None:
            delay = max(0.0, self._surplus_until - time.monotonic()) + 0.01
            self._timer = threading.Timer(delay, self._trim)
            self._timer.daemon = True
            self._timer.start()

    def _trim(self) -> None:
        with self._lock:
            self._timer = None
            if time.monotonic() < self._surplus_until:
                self._arm_timer()  # an upload ended meanwhile: its buffers linger too
                return
            del self._free[self._room():]


class MultipartUpload:
    """Streams bytes into one S3 object in parts while hashing them.

    Up to `in_flight` parts upload in the background while the next fills, so receiving and
    sending overlap; at most `in_flight + 1` parts of `part_size` are ever held in memory,
    in buffers taken from `buffers` and given back once their part is stored. Every part
    but the last is exactly `part_size` bytes.
    `abort()` leaves nothing behind; `complete()` makes the object exist at once, whole.
    """

    def __init__(self, s3: Any, ref: ObjectRef, content_type: str, *,
                 part_size: int = PART_SIZE, in_flight: int = 1,
                 buffers: PartBuffers | None = None) -> None:
        if part_size < PART_SIZE_MIN or in_flight < 1:
            raise ValueError(f"parts of {part_size} bytes, {in_flight} in flight")
        self._buffers = buffers or PartBuffers(part_size, linger_s=0.0)
        if self._buffers.part_size != part_size:
            raise ValueError(f"buffers of {self._buffers.part_size} bytes for parts of "
                             f"{part_size}")
        self._s3 = s3
        self.ref = ref
        self._part_size = part_size
        self._in_flight = in_flight
        #: The part filling (taken at its first byte) and how much of it is filled.
        self._buffer: bytearray | None = None
        self._filled = 0
        #: Bytes beyond a full buffer, until the buffer is handed to the sender.
        self._spill = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._sending: deque[Future[dict[str, Any]]] = deque()
        self._sender = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")
        self._sha = hashlib.sha256()
        self.size = 0
        try:
            self._upload_id = s3.create_multipart_upload(
                Bucket=ref.bucket, Key=ref.key, ContentType=content_type
            )["UploadId"]
        except (BotoCoreError, ClientError) as exc:
            self._sender.shutdown()
            raise StorageError(f"cannot start upload of {ref.uri}: {exc}") from exc
        self._buffers.reserve(in_flight + 1)
        self._released = False

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def write(self, chunk: bytes | memoryview) -> None:
        """Buffer `chunk`, sending each part once full (blocks while the window is full)."""
        self.fill(chunk)
        while self.part_full:
            self._flush()

    def fill(self, chunk: bytes | memoryview) -> None:
        """Hash and buffer `chunk` without sending anything, for a caller on an event loop:
        while `part_full`, it waits for `window_full()` to be done, then `send_part()`."""
        self._sha.update(chunk)
        self.size += len(chunk)
        if self._spill:  # the buffer is full already
            self._spill += chunk
        else:
            self._copy_in(memoryview(chunk))

    def _copy_in(self, chunk: memoryview) -> None:
        if self._buffer is None:
            self._buffer, self._filled = self._buffers.take(), 0
        fits = min(self._part_size - self._filled, len(chunk))
        self._buffer[self._filled:self._filled + fits] = chunk[:fits]
        self._filled += fits
        if fits < len(chunk):
            self._spill += chunk[fits:]

    @property
    def part_full(self) -> bool:
        return self._filled >= self._part_size

    def window_full(self) -> Future[dict[str, Any]] | None:
        """The oldest part in flight while the window has no free slot, else None."""
        return self._sending[0] if len(self._sending) >= self._in_flight else None

    def send_part(self) -> None:
        """Hand the buffered part to the sender; blocks only if `window_full()` is not done."""
        self._flush()

    def _flush(self) -> None:
        """Hand the filled buffer to the sender once a slot of the window is free."""
        while len(self._sending) >= self._in_flight:
            self._collect_oldest()
        body: bytes | bytearray
        if self._buffer is None:
            body = b""  # the one, empty, part of an empty upload
        elif self._filled < self._part_size:
            # The last part goes as a copy of its bytes: the buffer serves the next upload
            # (a cut one could not, and a fresh one costs more than the copy).
            body = bytes(memoryview(self._buffer)[:self._filled])
            self._buffers.give(self._buffer)
        else:
            body = self._buffer
        self._buffer, self._filled = None, 0
        spill, self._spill = self._spill, bytearray()
        if spill:
            self._copy_in(memoryview(spill))
        number = len(self._parts) + len(self._sending) + 1
        # The buffer itself goes: botocore refuses a memoryview body, and takes a bytearray
        # as it is (a retry sends the same object again). The span belongs to the request
        # that streams the upload: carry its context over.
        self._sending.append(self._sender.submit(contextvars.copy_context().run,
                                                 self._send, body, number))

    def _send(self, body: bytes | bytearray, number: int) -> dict[str, Any]:
        pooled = isinstance(body, bytearray)  # a pool's buffer; a last part goes as bytes
        try:
            with _transfer("upload part", self.ref, "out", len(body)):
                etag = self._s3.upload_part(
                    Bucket=self.ref.bucket, Key=self.ref.key, UploadId=self._upload_id,
                    PartNumber=number, Body=body,
                )["ETag"]
        except BaseException as exc:
            if pooled:
                self._buffers.discard()  # never reused: a failed request may still hold it
            if isinstance(exc, BotoCoreError | ClientError):
                raise StorageError(
                    f"upload of part {number} of {self.ref.uri} failed: {exc}") from exc
            raise
        if isinstance(body, bytearray):
            self._buffers.give(body)
        return {"PartNumber": number, "ETag": etag}

    def _collect_oldest(self) -> None:
        """Wait for the oldest part in flight; its failure surfaces here (StorageError)."""
        self._parts.append(self._sending.popleft().result())

    def _collect(self) -> None:
        """Wait for every part in flight, in order."""
        while self._sending:
            self._collect_oldest()

    def _release(self) -> None:
        """Give back the buffer filling, and the window's reservation (once)."""
        if self._released:
            return
        self._released = True
        if self._buffer is not None:
            self._buffers.give(self._buffer)
            self._buffer = None
        self._buffers.unreserve(self._in_flight + 1)

    def complete(self) -> StoredObject:
        try:
            while self._buffer is not None or not (self._parts or self._sending):
                self._flush()
            self._collect()
        finally:
            self._sender.shutdown()
            self._release()
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.ref.bucket, Key=self.ref.key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"completing {self.ref.uri} failed: {exc}") from exc
        return StoredObject(self.ref, self.size, self.sha256)

    def abort(self) -> None:
        # A part still in flight would otherwise land after the abort and linger.
        with contextlib.suppress(Exception):
            self._collect()
        self._sender.shutdown()
        self._release()
        try:
            self._s3.abort_multipart_upload(
                Bucket=self.ref.bucket, Key=self.ref.key, UploadId=self._upload_id
            )
        except (BotoCoreError, ClientError) as exc:
            # Nothing references an aborted upload; a leftover is garbage, not data loss.
            log.warning("abort of %s failed: %s", self.ref.uri, exc)
