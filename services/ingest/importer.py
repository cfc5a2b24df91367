"""Import: bring a source that already exists somewhere into Reelflow's own storage.

Two kinds of source are accepted: an S3 object (`s3://bucket/key`, read with Reelflow's
credentials) and a file under one of the allow-listed server directories
(`REELFLOW_INGEST_IMPORT_ROOTS`). Either way the bytes are *streamed* into the immutable
`sources/{video_id}/original` through `MultipartUpload`, which hashes them on the way: the
caller's object may change or disappear afterwards, and a SHA-256 the caller claims is never
trusted, because transcode verifies the source against the hash we publish.

Everything here is blocking (boto3, file reads); the API runs it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError

from services.ingest.errors import Rejection
from services.shared.storage import (
    MultipartUpload,
    ObjectMissing,
    ObjectRef,
    ObjectStore,
    StorageError,
    StoredObject,
)

#: Read size for both kinds of source; MultipartUpload batches it into 8 MiB parts.
READ_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ImportSource:
    """Where an import reads from: exactly one of `s3` or `path` is set."""

    uri: str
    s3: ObjectRef | None = None
    path: Path | None = None

    @property
    def filename(self) -> str:
        name = self.s3.key.rsplit("/", 1)[-1] if self.s3 else (self.path.name if self.path else "")
        return name or "original"


def parse_source_uri(raw: object) -> ImportSource:
    """Classify `source_uri`: `s3://bucket/key`, `file:///abs/path` or `/abs/path`."""
    if not isinstance(raw, str) or not raw.strip():
        raise Rejection("missing_source_uri", "give `source_uri`: s3://bucket/key or a server "
                        "path under an allowed import root", 400)
    if raw.startswith("s3://"):
        try:
            return ImportSource(raw, s3=ObjectRef.parse(raw))
        except ValueError as exc:
            raise Rejection("invalid_source_uri", str(exc)) from None
    text = raw[len("file://"):] if raw.startswith("file://") else raw
    if "://" in text or not text.startswith("/") or "\x00" in text:
        raise Rejection("invalid_source_uri", f"source_uri must be s3://bucket/key or an "
                        f"absolute server path, got {raw!r}")
    return ImportSource(raw, path=Path(text))


def confine(path: Path, roots: Sequence[Path]) -> Path:
    """The real path of `path`, if it lies inside one of the real `roots`; else a 403.

    Both sides are resolved with realpath first, so `..` components and symlinks (in any
    component, the final one included) are judged by where they really lead.
    """
    if not roots:
        raise Rejection("import_disabled", "importing server files is disabled: no "
                        "REELFLOW_INGEST_IMPORT_ROOTS are configured", 403)
    real = Path(os.path.realpath(path))
    for root in roots:
        if real.is_relative_to(Path(os.path.realpath(root))):
            return real
    raise Rejection("path_not_allowed", f"{str(path)!r} is outside the allowed import roots",
                    403)


def open_confined(path: Path, roots: Sequence[Path]) -> IO[bytes]:
    """Open a regular file for reading, refusing anything outside `roots`.

    The resolved path is opened with O_NOFOLLOW, so a symlink swapped in at the last
    component between the check and the open is refused rather than followed.
    """
    real = confine(path, roots)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Rejection("source_not_found", f"{str(path)!r} does not exist") from None
    except PermissionError:
        raise Rejection("source_forbidden", f"ingest may not read {str(path)!r}", 403) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Rejection("path_not_allowed", f"{str(path)!r} changed into a symlink", 403) \
                from None
        raise Rejection("source_unreadable", f"cannot open {str(path)!r}: {exc.strerror}") \
            from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Rejection("not_a_file", f"{str(path)!r} is not a regular file")
    return os.fdopen(fd, "rb")


def _pump(read: Callable[[int], bytes], upload: MultipartUpload, max_bytes: int) -> None:
    for block in iter(lambda: read(READ_BLOCK), b""):
        if upload.size + len(block) > max_bytes:
            raise Rejection("file_too_large",
                            f"source exceeds the maximum of {max_bytes} bytes", 413)
        upload.write(block)


def copy_into(source: ImportSource, store: ObjectStore, dest: ObjectRef,
              roots: Sequence[Path], max_bytes: int) -> StoredObject:
    """Stream `source` into `dest`, hashing it. On any failure nothing is left at `dest`."""
    if source.path is not None:
        reader = open_confined(source.path, roots)
    else:
        assert source.s3 is not None
        head = store.head(source.s3)
        if head is None:
            raise Rejection("source_not_found", f"{source.uri} does not exist")
        if int(head.get("ContentLength", 0)) > max_bytes:
            raise Rejection("file_too_large", f"{source.uri} is {head['ContentLength']} bytes; "
                            f"the maximum is {max_bytes}", 413)
        try:
            reader = store.stream(source.s3)["Body"]
        except ObjectMissing:
            raise Rejection("source_not_found", f"{source.uri} does not exist") from None
    try:
        upload = store.multipart(dest, "application/octet-stream")
        try:
            _pump(reader.read, upload, max_bytes)
            if upload.size == 0:
                raise Rejection("empty_file", "the source is empty (0 bytes)")
            return upload.complete()
        except BaseException:
            upload.abort()
            raise
    except (BotoCoreError, ClientError) as exc:
        # Reading the caller's object broke mid-stream (network, gateway restart).
        raise StorageError(f"reading {source.uri} failed: {exc}") from exc
    finally:
        reader.close()
