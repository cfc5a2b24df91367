"""`reelflow submit FILE`: hand one video to ingest from the command line.

The file is streamed to `POST /api/v1/videos` in blocks (never read whole, so a 20 GB
original costs no more memory than a small one) behind a progress bar showing bytes, rate
and ETA; the `202` body is printed. With `--wait` the video is then followed through the
catalog API until it is `ready`, `failed` or `cancelled`, with a live stage display.
The API key sent is `REELFLOW_API_KEY`, else the admin key (`REELFLOW_ADMIN_KEY`, or the
local stack's generated `<state dir>/admin-key`).

Exit codes, so scripts can branch without parsing output:
  0  accepted (and, with --wait, ready)
  1  with --wait: the video ended failed or cancelled, or did not finish in time
  2  not accepted: ingest refused it (its error code and detail are printed) or was
     unreachable
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

#: Block size read from disk and handed to the HTTP client: big enough to keep loopback
#: uploads CPU-cheap, small enough that the bar moves smoothly.
UPLOAD_BLOCK = 256 * 1024
TERMINAL = ("ready", "failed", "cancelled")


class Refused(Exception):
    """Ingest answered something other than 202: a coded refusal, or an outage (503)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


def _disposition(name: str, filename: str | None = None) -> str:
    # Quotes and line breaks would end the header early; percent-encode them as browsers do.
    header = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        safe = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        header += f'; filename="{safe}"'
    return header


def upload(path: Path, ingest_url: str, metadata: str | dict[str, Any] | None = None,
           priority: int | None = None, console: Console | None = None,
           timeout_s: float = 600, api_key: str | None = None) -> dict[str, Any]:
    """Stream `path` to ingest with a progress bar; return the 202 body or raise `Refused`.

    `metadata` is sent verbatim when it is text, so ingest (not this client) judges it.
    """
    console = console or Console(stderr=True)
    size = path.stat().st_size
    boundary = f"reelflow-{uuid.uuid4().hex}"
    head = b""
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        head += f"--{boundary}\r\n{_disposition('metadata')}\r\n\r\n{text}\r\n".encode()
    if priority is not None:
        head += f"--{boundary}\r\n{_disposition('priority')}\r\n\r\n{priority}\r\n".encode()
    head += (f"--{boundary}\r\n{_disposition('file', path.name)}\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    with Progress(TextColumn("[bold]upload"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("upload", total=size)

        def body() -> Iterator[bytes]:
            yield head
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(UPLOAD_BLOCK), b""):
                    yield block
                    bar.advance(task, len(block))
            yield tail

        reply = httpx.post(
            f"{ingest_url.rstrip('/')}/api/v1/videos", content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Content-Length": str(len(head) + size + len(tail)),
                     **key_header(api_key)},
            timeout=httpx.Timeout(timeout_s, connect=10),
        )
    if reply.status_code != 202:
        raise _refusal(reply)
    return reply.json()  # type: ignore[no-any-return]


def key_header(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def _refusal(reply: httpx.Response) -> Refused:
    try:
        body = reply.json()
        return Refused(reply.status_code, str(body.get("error", "error")),
                       str(body.get("detail", reply.text)))
    except (ValueError, AttributeError):
        return Refused(reply.status_code, "http_error", reply.text.strip()[:500])


def follow(video_id: str, catalog_url: str, timeout_s: float,
           console: Console | None = None, api_key: str | None = None) -> dict[str, Any]:
    """Poll the catalog until the video ends; show its status and each stage's progress.

    Returns the last catalog entry seen (status not terminal if `timeout_s` ran out).
    """
    console = console or Console(stderr=True)
    url = f"{catalog_url.rstrip('/')}/api/v1/videos/{video_id}"
    deadline = time.monotonic() + timeout_s
    video: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=console) as display:
        # Total None renders a pulsing bar: the status row has no percentage of its own.
        status_row = display.add_task("waiting for the catalog", total=None)
        stages: dict[str, TaskID] = {}
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(url, timeout=10, headers=key_header(api_key))
            except httpx.HTTPError as exc:
                display.update(status_row, description=f"catalog unreachable ({exc})")
                reply = None
            # 404 until the projector has read `video-uploaded`; keep waiting.
            if reply is not None and reply.status_code == 200:
                video = reply.json()
                display.update(status_row, description=f"[bold]{video['status']}")
                for stage, percent in sorted((video.get("progress") or {}).items()):
                    if stage not in stages:
                        stages[stage] = display.add_task(f"  {stage}", total=100)
                    display.update(stages[stage], completed=float(percent))
                if video["status"] in TERMINAL:
                    display.update(status_row, total=1, completed=1)
                    return video
            time.sleep(0.5)
    return video


def _absolute(url: str, base: str) -> str:
    return url if url.startswith("http") else f"{base.rstrip('/')}{url}"


def run(args: argparse.Namespace) -> int:
    from services.catalog.settings import CatalogSettings
    from services.ingest.settings import IngestSettings
    from services.shared.settings import CommonSettings
    from services.stack.admin_key import client_key

    out = Console()
    api_key = client_key(CommonSettings())
    err = Console(stderr=True)
    if args.ingest_url is None:
        ingest = IngestSettings()
        args.ingest_url = f"http://{ingest.host}:{ingest.port}"
    if args.catalog_url is None:
        catalog = CatalogSettings()
        args.catalog_url = f"http://{catalog.host}:{catalog.port}"
    path: Path = args.file
    if not path.is_file():
        err.print(f"[red]{path}: not a file")
        return 2
    try:
        accepted = upload(path, args.ingest_url, args.metadata, args.priority, console=err,
                          api_key=api_key)
    except Refused as refusal:
        err.print(f"[red]refused[/] ({refusal.status}) [bold]{refusal.code}[/]: "
                  f"{refusal.detail}")
        print(f"refused: {refusal.code}: {refusal.detail}")
        return 2
    except httpx.HTTPError as exc:
        err.print(f"[red]cannot reach ingest at {args.ingest_url}: {exc!r}")
        return 2
    out.print_json(json.dumps(accepted))
    if not args.wait:
        return 0
    video_id = accepted["video_id"]
    video = follow(video_id, args.catalog_url, args.timeout, console=err, api_key=api_key)
    status = video.get("status", "unknown")
    if status == "ready":
        hls = (video.get("playback") or {}).get("hls")
        # Plain print: a URL must not be wrapped, whatever the terminal width.
        print(f"{video_id} ready" + (f": {_absolute(hls, args.catalog_url)}" if hls else ""))
        return 0
    if status in ("failed", "cancelled"):
        error = video.get("error") or {}
        why = f" ({error.get('stage')}: {error.get('code')}: {error.get('message')})" \
            if error else ""
        print(f"{video_id} {status}{why}")
        return 1
    print(f"{video_id} still {status} after {args.timeout:.0f} s")
    return 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "submit", help="upload a video to ingest (and optionally follow it to ready)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="the video file to upload")
    parser.add_argument("--metadata", default=None,
                        help='user metadata as a JSON object, e.g. \'{"title": "Cats"}\'')
    parser.add_argument("--priority", type=int, default=None, help="1-10 (default 5)")
    parser.add_argument("--wait", action="store_true",
                        help="follow the video in the catalog until it ends")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds --wait follows the video before giving up")
    parser.add_argument("--ingest-url", default=None,
                        help="ingest base URL (default from REELFLOW_INGEST_HOST/_PORT)")
    parser.add_argument("--catalog-url", default=None,
                        help="catalog base URL (default from REELFLOW_CATALOG_HOST/_PORT)")
    parser.set_defaults(func=run)


if __name__ == "__main__":
    from services.cli import main

    sys.exit(main(["submit", *sys.argv[1:]]))
