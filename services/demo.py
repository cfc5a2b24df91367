"""`reelflow demo`: the main job, end to end, on a generated clip.

Starts whatever part of the local stack is not running (Kafka, PostgreSQL, S3 and the
four services), generates a sample clip (FFmpeg `testsrc2` + `sine`, 1080p, 20 s),
uploads it to ingest with a progress bar, follows it through the pipeline, prints the
catalog entry and the playback URLs, then stops what it started.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from services.shared.settings import CommonSettings
from services.stack.admin_key import client_key
from services.submit import Refused, key_header, upload

console = Console()


def generate_sample(path: Path, settings: CommonSettings, seconds: int, height: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    width = height * 16 // 9
    subprocess.run(
        [settings.ffmpeg_path, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", str(path)],
        check=True, timeout=600,
    )
    return path


def follow(video_id: str, catalog_url: str, timeout_s: float,
           api_key: str | None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    video: dict[str, Any] = {}
    with console.status("waiting for the catalog") as status:
        while time.monotonic() < deadline:
            reply = httpx.get(f"{catalog_url}/api/v1/videos/{video_id}", timeout=10,
                              headers=key_header(api_key))
            if reply.status_code == 200:
                video = reply.json()
                progress = video.get("progress") or {}
                stages = ", ".join(f"{k} {v:.0f}%" for k, v in progress.items())
                status.update(f"[bold]{video['status']}[/] {stages}")
                if video["status"] in ("ready", "failed", "cancelled"):
                    return video
            time.sleep(0.5)
    raise SystemExit(f"{video_id} did not finish within {timeout_s:.0f} s; last: {video}")


def show_progress_logs() -> None:
    """The stack's progress lines ("starting kafka", "waiting for kafka at …") on the
    console; libraries only from WARNING up (httpx logs every poll at INFO)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for chatty in ("httpx", "aiokafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    from services.catalog.settings import CatalogSettings
    from services.ingest.settings import IngestSettings
    from services.stack import LocalStack, StackSettings

    show_progress_logs()
    stack = LocalStack(StackSettings())
    started = stack.up(infra_only=False)
    ingest = IngestSettings()
    catalog = CatalogSettings()
    catalog_url = f"http://{catalog.host}:{catalog.port}"
    api_key = client_key(ingest.common)
    try:
        sample = generate_sample(ingest.common.state_dir / "demo" / f"sample-{args.height}p.mp4",
                                 ingest.common, args.seconds, args.height)
        console.print(f"sample clip: {sample} ({sample.stat().st_size / 1e6:.1f} MB)")
        t0 = time.monotonic()
        try:
            accepted = upload(sample, f"http://{ingest.host}:{ingest.port}",
                              {"title": "Reelflow demo", "tags": ["demo"]}, console=console,
                              api_key=api_key)
        except Refused as refusal:
            raise SystemExit(f"ingest refused the clip: {refusal}") from None
        video = follow(accepted["video_id"], catalog_url, args.timeout, api_key)
        elapsed = time.monotonic() - t0
        console.print_json(json.dumps(video))
        if video["status"] != "ready":
            console.print(f"[red]video ended {video['status']}: {video.get('error')}")
            return 1
        playback = video.get("playback") or {}
        console.print(f"\n[green]ready in {elapsed:.1f} s[/]")
        for kind in ("page", "hls", "dash"):
            if playback.get(kind):
                url = playback[kind]
                url = url if url.startswith("http") else catalog_url + url
                if kind == "page" and api_key:
                    url += f"#key={api_key}"  # the page keeps it and takes it off the URL
                # Plain print: a URL must not be wrapped, whatever the terminal width.
                print(f"{kind:>5}: {url}")
        if args.keep:
            console.print("--keep: the stack stays up; stop it with `reelflow stack down`")
        return 0
    finally:
        if started and not args.keep:
            stack.down()


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("demo", help="run the whole pipeline on a generated clip")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.set_defaults(func=run)
