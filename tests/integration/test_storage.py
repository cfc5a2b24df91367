"""`MultipartUpload` against the real S3 gateway (SeaweedFS): with several parts in flight
the stored object is the written bytes in order, whole, with their SHA-256; an abort with
parts in flight leaves no object and no open upload."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import pytest

from services.shared.storage import PART_SIZE_MIN

pytestmark = pytest.mark.integration

#: 3.5 minimum-size parts, written in uneven pieces, so parts fill across writes.
BODY = os.urandom(PART_SIZE_MIN * 7 // 2)


def _write(upload: Any, data: bytes) -> None:
    for start in range(0, len(data), 777_777):
        upload.write(data[start:start + 777_777])


@pytest.mark.parametrize("in_flight", [1, 3])
def test_an_upload_with_parts_in_flight_stores_the_bytes_in_order(store: Any,
                                                                  in_flight: int) -> None:
    ref = store.ref(f"tests/storage/{uuid.uuid4()}")
    upload = store.multipart(ref, "application/octet-stream", part_size=PART_SIZE_MIN,
                             in_flight=in_flight)
    _write(upload, BODY)
    stored = upload.complete()
    assert (stored.size_bytes, stored.sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())
    assert store.stream(ref)["Body"].read() == BODY
    # Four parts: the S3 ETag of a multipart object ends in its part count.
    assert store.head(ref)["ETag"].strip('"').endswith("-4")
    store.delete(ref)


def test_an_abort_with_parts_in_flight_leaves_nothing(store: Any) -> None:
    ref = store.ref(f"tests/storage/{uuid.uuid4()}")
    upload = store.multipart(ref, "application/octet-stream", part_size=PART_SIZE_MIN,
                             in_flight=3)
    _write(upload, BODY[:PART_SIZE_MIN * 3])  # three parts sent, none collected yet
    upload.abort()
    assert store.head(ref) is None
    listing = store._s3.list_multipart_uploads(Bucket=ref.bucket, Prefix=ref.key)
    assert not listing.get("Uploads"), listing


def test_a_part_smaller_than_s3_allows_is_refused_before_anything_is_sent(store: Any) -> None:
    with pytest.raises(ValueError):
        store.multipart(store.ref(f"tests/storage/{uuid.uuid4()}"), "text/plain",
                        part_size=PART_SIZE_MIN - 1)


def test_many_files_go_up_at_once_and_come_back_in_the_order_given(store: Any,
                                                                   tmp_path: Any) -> None:
    from services.shared.storage import SINGLE_PUT_MAX, FileUpload

    # 20 small segments (one PUT each) and one file above the single-PUT limit (multipart).
    bodies = [os.urandom(1000 + i) for i in range(20)] + [os.urandom(SINGLE_PUT_MAX + 1)]
    prefix = f"tests/storage/{uuid.uuid4()}"
    uploads = []
    for i, body in enumerate(bodies):
        path = tmp_path / f"seg-{i}.m4s"
        path.write_bytes(body)
        uploads.append(FileUpload(path, store.ref(f"{prefix}/seg-{i}.m4s"), "video/iso.segment",
                                  "public, max-age=60"))
    stored = store.put_files(uploads, concurrency=8)
    assert [s.ref for s in stored] == [u.ref for u in uploads]
    assert [s.sha256 for s in stored] == [hashlib.sha256(b).hexdigest() for b in bodies]
    for upload, body in zip(uploads, bodies, strict=True):
        head = store.head(upload.ref)
        assert (head["ContentLength"], head["ContentType"], head["CacheControl"]) == \
            (len(body), "video/iso.segment", "public, max-age=60")
    assert store.stream(uploads[-1].ref)["Body"].read() == bodies[-1]
    assert store.head(uploads[-1].ref)["ETag"].strip('"').endswith("-2")  # multipart


def test_a_failed_upload_among_many_is_raised_after_the_others_ended(store: Any,
                                                                     tmp_path: Any) -> None:
    from services.shared.storage import FileUpload

    prefix = f"tests/storage/{uuid.uuid4()}"
    good = []
    for i in range(6):
        (tmp_path / f"{i}.bin").write_bytes(b"x" * (i + 1))
        good.append(FileUpload(tmp_path / f"{i}.bin", store.ref(f"{prefix}/{i}.bin"), "x/y"))
    gone = FileUpload(tmp_path / "gone.bin", store.ref(f"{prefix}/gone.bin"), "x/y")
    with pytest.raises(FileNotFoundError):
        store.put_files([good[0], gone, *good[1:]], concurrency=4)
    assert all(store.head(u.ref) is not None for u in good)
    assert store.head(gone.ref) is None
