"""Streaming multipart receiver: the `file` part goes straight into an S3 multipart upload.

Nothing is buffered whole, in memory or on disk: the parser is fed the request body as it
arrives and the file part's bytes are written to `MultipartUpload`, which holds at most
its window of parts in flight plus the one filling. Small parts (metadata, priority, thumbnail)
are kept in memory, bounded.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.ingest.errors import Rejection
from services.shared.storage import MultipartUpload, StoredObject

#: Blocks at least this big get their own mapping from glibc (see below).
MMAP_THRESHOLD = 1024 * 1024
#: mallopt(3)'s M_MMAP_THRESHOLD.
_M_MMAP_THRESHOLD = -3


def return_parts_to_the_os() -> None:
    """Have glibc map every block of 1 MiB or more on its own, so a freed 8 MiB part goes
    back to the OS at once. By default glibc raises its mmap threshold to the largest block
    freed so far: after the first part, parts come from the heap's arenas (one per thread
    that touches them), which keep what they held. Measured with `./run bench ingest`: one
    500 MB upload's RSS above idle fell from 57 to 20 MB. A no-op where libc has no mallopt."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def return_free_heap_to_the_os() -> None:
    """glibc's malloc_trim(3): hand the free pages inside the heaps back. Called once ingest
    has started (imports, migrations and the OpenAPI document leave freed pages behind) and
    after each streamed upload (the parser's and boto3's small buffers)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # Once per process: find_library runs ldconfig in a child process, and this is called
    # after every upload.
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None
SMALL_FIELD_LIMIT = 1024 * 1024


@dataclass
class ReceivedForm:
    stored: StoredObject | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    thumbnail: bytes | None = None


class _FormSink:
    """python-multipart callbacks routing each part to where it belongs."""

    def __init__(self, open_upload: Callable[[], MultipartUpload], max_file: int,
                 max_thumbnail: int) -> None:
        self._open_upload = open_upload
        self._max_file = max_file
        self._max_thumbnail = max_thumbnail
        self.form = ReceivedForm()
        self.upload: MultipartUpload | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part_name = ""
        self._small = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._small = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._part_name = options.get(b"name", b"").decode(errors="replace")
        if self._part_name == "file":
            if self.upload is not None:
                raise Rejection("duplicate_file", "send exactly one `file` part")
            filename = options.get(b"filename")
            self.form.filename = filename.decode(errors="replace") if filename else None
            self.upload = self._open_upload()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_name == "file":
            assert self.upload is not None
            if self.upload.size + (end - start) > self._max_file:
                raise Rejection("file_too_large",
                                f"upload exceeds the maximum of {self._max_file} bytes", 413)
            # A view, not a slice: the chunk's bytes are copied once, into the part.
            self.upload.fill(memoryview(data)[start:end])
            return
        limit = self._max_thumbnail if self._part_name == "thumbnail" else SMALL_FIELD_LIMIT
        if len(self._small) + (end - start) > limit:
            code = "thumbnail_too_large" if self._part_name == "thumbnail" else "field_too_large"
            raise Rejection(code, f"form field {self._part_name!r} exceeds {limit} bytes", 413)
        self._small += data[start:end]

    def _on_part_end(self) -> None:
        if self._part_name == "thumbnail":
            self.form.thumbnail = bytes(self._small)
        elif self._part_name != "file":
            self.form.fields[self._part_name] = self._small.decode(errors="replace")


async def receive_form(body: AsyncIterator[bytes], boundary: bytes,
                       open_upload: Callable[[], MultipartUpload],
                       max_file: int, max_thumbnail: int) -> ReceivedForm:
    """Parse a multipart body, streaming the `file` part into object storage.

    On any failure (client gone, S3 error, rejection) the multipart upload is aborted,
    so nothing is left behind and nothing is referenced.
    """
    sink = _FormSink(open_upload, max_file, max_thumbnail)
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    try:
        # Each network chunk is parsed right here on the loop: the parser finds the boundary
        # with bytes.find and the file part's bytes are only hashed and buffered
        # (`MultipartUpload.fill`), so nothing blocks. Only a full part waits, for a slot of
        # its window, without holding the loop; its upload runs in the sender's thread.
        # (Before, chunks were joined into 1 MiB blocks, copied twice, and each block was
        # parsed in a worker thread: a thread hop per MiB and two copies of every byte.)
        async for chunk in body:
            if sink.upload is None:
                # The `file` part may begin in this chunk, and opening its upload is an S3
                # request: a worker thread's, not the loop's (only until the part begins).
                await asyncio.to_thread(parser.write, chunk)
            else:
                parser.write(chunk)
            upload = sink.upload
            while upload is not None and upload.part_full:  # a chunk may fill two
                while (oldest := upload.window_full()) is not None and not oldest.done():
                    await asyncio.wrap_future(oldest)
                upload.send_part()
        parser.finalize()
        if sink.upload is None:
            raise Rejection("missing_file", "the multipart form has no `file` part", 400)
        if sink.upload.size == 0:
            raise Rejection("empty_file", "the uploaded file is empty (0 bytes)")
        sink.form.stored = await asyncio.to_thread(sink.upload.complete)
        return_free_heap_to_the_os()
        return sink.form
    except MultipartParseError:
        if sink.upload is not None:
            await asyncio.to_thread(sink.upload.abort)
        # A broken part header is the client's mistake, refused like a body of another type.
        raise Rejection("not_multipart", "the body is not well-formed multipart/form-data",
                        415) from None
    except BaseException:
        if sink.upload is not None:
            await asyncio.to_thread(sink.upload.abort)
        raise
