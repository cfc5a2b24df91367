"""The tus 1.0 protocol, pure: which headers a request must carry, what they mean, and the
headers of the answers. No I/O; the route (`routes/uploads.py`) and the store
(`resumable.py`) act on what these functions decide. See https://tus.io/protocols/resumable-upload
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from services.ingest.errors import Rejection

VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "checksum", "expiration")
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: tus's own status for a failed `Upload-Checksum` (not an IANA code).
CHECKSUM_MISMATCH = 460


def discovery_headers(max_size: int) -> dict[str, str]:
    """The answer to OPTIONS: what this server speaks."""
    return {"Tus-Resumable": VERSION, "Tus-Version": VERSION,
            "Tus-Extension": ",".join(EXTENSIONS), "Tus-Max-Size": str(max_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)}


def check_version(value: str | None) -> None:
    """Every request but OPTIONS names the protocol version; another one gets 412."""
    if value != VERSION:
        raise Rejection("tus_version_unsupported",
                        f"send Tus-Resumable: {VERSION} (got {value!r})", 412)


def _non_negative(name: str, value: str | None) -> int:
    if value is None or not value.isascii() or not value.isdigit():
        raise Rejection("invalid_tus_header", f"{name} must be a non-negative integer", 400)
    return int(value)


def parse_length(value: str | None, defer: str | None, max_size: int) -> int:
    """`Upload-Length` of a creation. Deferred lengths are not offered (not advertised)."""
    if value is None and defer is not None:
        raise Rejection("upload_length_required", "Upload-Defer-Length is not supported; "
                        "send Upload-Length", 400)
    length = _non_negative("Upload-Length", value)
    if length == 0:
        raise Rejection("empty_file", "the upload is empty (Upload-Length: 0)")
    if length > max_size:
        raise Rejection("file_too_large", f"Upload-Length {length} exceeds Tus-Max-Size "
                        f"{max_size}", 413)
    return length


def parse_offset(value: str | None) -> int:
    return _non_negative("Upload-Offset", value)


def check_offset(declared: int, current: int) -> None:
    """A PATCH continues exactly where the upload stands; otherwise 409 and nothing is kept."""
    if declared != current:
        raise Rejection("upload_offset_mismatch", f"Upload-Offset is {declared}, but the "
                        f"upload stands at {current}: HEAD it and resume from there", 409)


def check_content_type(value: str | None) -> None:
    if (value or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise Rejection("invalid_content_type", f"a PATCH body is {OFFSET_CONTENT_TYPE}", 415)


def check_fits(offset: int, received: int, length: int) -> None:
    """Bytes beyond the declared Upload-Length are refused (the PATCH keeps nothing)."""
    if offset + received > length:
        raise Rejection("upload_exceeds_length", f"the upload is {length} bytes; this PATCH "
                        f"goes beyond it", 413)


def parse_metadata(value: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent)."""
    pairs: dict[str, str] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if not key.isascii() or not key.isprintable() or key in pairs:
            raise Rejection("invalid_upload_metadata", "Upload-Metadata has an invalid or "
                            "repeated key", 400)
        try:
            pairs[key] = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Rejection("invalid_upload_metadata", f"Upload-Metadata value of {key!r} "
                            "is not base64 of UTF-8", 400) from exc
    return pairs


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def matches(self, hasher: hashlib._Hash) -> bool:
        return hmac.compare_digest(hasher.digest(), self.digest)


def parse_checksum(value: str | None) -> Checksum | None:
    """`Upload-Checksum: <algorithm> <base64 digest>` of the PATCH body."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise Rejection("checksum_algorithm_unsupported", f"Upload-Checksum algorithm "
                        f"{algorithm!r} is not one of {', '.join(CHECKSUM_ALGORITHMS)}", 400)
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise Rejection("invalid_tus_header", "Upload-Checksum's digest is not base64",
                        400) from exc
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise Rejection("invalid_tus_header", f"Upload-Checksum's {algorithm} digest has the "
                        "wrong length", 400)
    return Checksum(algorithm, digest)


def expires_header(at: datetime) -> str:
    """`Upload-Expires` is an RFC 9110 HTTP-date."""
    return format_datetime(at.astimezone(UTC), usegmt=True)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at
