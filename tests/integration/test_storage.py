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
