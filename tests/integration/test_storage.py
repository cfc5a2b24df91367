"""`MultipartUpload` against the real S3 gateway (SeaweedFS): with several parts in flight
the stored object is the written bytes in order, whole, with their SHA-256; an abort with
parts in flight leaves no object and no open upload; an upload fed from an event loop
(ingest's `receive_form`: memoryviews, never blocking the loop) stores the same."""

from __future__ import annotations

import asyncio
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


def test_an_upload_fed_from_an_event_loop_stores_the_bytes_in_order(store: Any) -> None:
    ref = store.ref(f"tests/storage/{uuid.uuid4()}")
    upload = store.multipart(ref, "application/octet-stream", part_size=PART_SIZE_MIN,
                             in_flight=2)

    async def feed() -> Any:
        view = memoryview(BODY)
        for start in range(0, len(BODY), 65536):
            upload.fill(view[start:start + 65536])
            if upload.part_full:
                while (oldest := upload.window_full()) is not None and not oldest.done():
                    await asyncio.wrap_future(oldest)
                upload.send_part()
        return await asyncio.to_thread(upload.complete)

    stored = asyncio.run(feed())
    assert (stored.size_bytes, stored.sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())
    assert store.stream(ref)["Body"].read() == BODY
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


def test_the_next_upload_reuses_the_buffers_of_stored_parts(store: Any) -> None:
    refs = [store.ref(f"tests/storage/{uuid.uuid4()}") for _ in range(2)]
    made = []
    for ref in refs:
        upload = store.multipart(ref, "application/octet-stream", part_size=PART_SIZE_MIN,
                                 in_flight=2)
        _write(upload, BODY)
        upload.complete()
        made.append(store._part_buffers[PART_SIZE_MIN].allocated)
    assert made[1] == made[0], "the second upload made fresh buffers"
    for ref in refs:
        assert store.stream(ref)["Body"].read() == BODY
        store.delete(ref)


def test_a_failed_part_is_raised_and_its_buffer_never_reused(store: Any) -> None:
    from services.shared.storage import StorageError

    ref = store.ref(f"tests/storage/{uuid.uuid4()}")
    upload = store.multipart(ref, "application/octet-stream", part_size=PART_SIZE_MIN,
                             in_flight=1)
    # The gateway forgets the upload: the part sent now fails for real.
    store._s3.abort_multipart_upload(Bucket=ref.bucket, Key=ref.key,
                                     UploadId=upload._upload_id)
    upload.fill(BODY[:PART_SIZE_MIN])
    failed = upload._buffer
    upload.send_part()
    with pytest.raises(StorageError, match="part 1"):
        upload.complete()
    upload.abort()
    pool = store._part_buffers[PART_SIZE_MIN]
    assert all(buffer is not failed for buffer in pool._free)
    assert pool._in_use == 0
    assert store.head(ref) is None
