"""What every reliability scenario needs: distinct clips, submission over the ingest API,
waiting on the catalog's read model, and the audit of a finished video against S3.

The audit reads the catalog's Postgres tables and the objects themselves, never the
services' own view of their work: a video counts as complete only when it is `ready`, has
exactly one package (the current one) and one rendition set, and every object its events
name is whole (size and SHA-256 as the event says) and every file its playlists reference
exists.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from services.shared.settings import CommonSettings
from services.shared.storage import ObjectRef, ObjectStore
from tests.access import admin_headers
from tests.media import make_clip
from tests.slot import INGEST_URL

INGEST = INGEST_URL
TERMINAL = {"ready", "failed", "cancelled"}


def clips(folder: Path, count: int, fps: int, first: int = 0) -> list[Path]:
    """`count` short 640x360 clips whose bytes all differ (durations step by one frame;
    each scenario its own frame rate), so no two uploads share a SHA-256."""
    return [make_clip(folder / f"clip-{fps}-{i}.mp4", 640, 360, fps=fps,
                      seconds=2 + i / fps) for i in range(first, first + count)]


def submit(path: Path, title: str = "reliability") -> httpx.Response:
    with path.open("rb") as fh:
        return httpx.post(f"{INGEST}/api/v1/videos", headers=admin_headers(),
                          files={"file": (path.name, fh)},
                          data={"metadata": f'{{"title": "{title}"}}'}, timeout=180)


def submit_all(paths: Iterable[Path], title: str = "reliability") -> list[str]:
    """Submit each clip; a 503 (Kafka did not acknowledge, nothing kept) is retried, as the
    API asks of its clients."""
    ids = []
    for path in paths:
        for _ in range(10):
            reply = submit(path, title)
            if reply.status_code != 503:
                break
            time.sleep(3)
        assert reply.status_code == 202, reply.text
        ids.append(reply.json()["video_id"])
    return ids


def statuses(common: CommonSettings, ids: list[str]) -> dict[str, dict[str, Any]]:
    """video_id -> {status, error_code, attempt} from the catalog; {} while Postgres is down."""
    try:
        with psycopg.connect(common.pg_dsn, connect_timeout=5, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT video_id::text AS id, status, error_code, attempt FROM videos"
                " WHERE video_id = ANY(%s::uuid[])", (ids,)).fetchall()
    except psycopg.OperationalError:
        return {}
    return {row["id"]: row for row in rows}


def wait_terminal(common: CommonSettings, ids: list[str], timeout: float) -> dict[str, str]:
    """Until every video is ready, failed or cancelled, or `timeout` passed; returns the
    last status seen per video ("unknown" when the catalog never heard of it)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = dict.fromkeys(ids, "unknown")
    while True:
        for video_id, row in statuses(common, ids).items():
            seen[video_id] = row["status"]
        if all(s in TERMINAL for s in seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(2)


# --------------------------------------------------------------------------- the audit


@dataclass
class Audit:
    """Per video, what is wrong with its outputs: duplicates and broken objects."""

    duplicated: dict[str, list[str]] = field(default_factory=dict)
    broken: dict[str, list[str]] = field(default_factory=dict)
    objects_checked: int = 0


def audit(common: CommonSettings, ids: list[str]) -> Audit:
    store = ObjectStore(common)
    result = Audit()
    with psycopg.connect(common.pg_dsn, connect_timeout=10, row_factory=dict_row) as conn:
        for video_id in ids:
            dup, broken = _audit_one(conn, store, video_id, result)
            if dup:
                result.duplicated[video_id] = dup
            if broken:
                result.broken[video_id] = broken
    return result


def _audit_one(conn: psycopg.Connection[dict[str, Any]], store: ObjectStore, video_id: str,
               result: Audit) -> tuple[list[str], list[str]]:
    packages = conn.execute("SELECT * FROM packages WHERE video_id = %s",
                            (video_id,)).fetchall()
    renditions = conn.execute("SELECT * FROM renditions WHERE video_id = %s",
                              (video_id,)).fetchall()
    transcoded = conn.execute("SELECT count(*) AS n FROM timeline WHERE video_id = %s AND"
                              " topic = 'video-transcoded'", (video_id,)).fetchone()
    dup: list[str] = []
    broken: list[str] = []
    # More than one of anything is a duplicate; none (a video that never got there) is
    # reported by its status, and by the missing objects below.
    if len(packages) > 1 or sum(p["current"] for p in packages) > 1:
        dup.append(f"{len(packages)} packages, {sum(p['current'] for p in packages)} current")
    if len({r["attempt"] for r in renditions}) > 1:
        dup.append(f"rendition sets of attempts {sorted({r['attempt'] for r in renditions})}")
    if transcoded is not None and transcoded["n"] > 1:
        dup.append(f"{transcoded['n']} distinct video-transcoded events")
    for area in ("renditions", "packages"):
        attempts = {k.split("/")[2] for k in store.list_keys(f"{area}/{video_id}/")}
        if len(attempts) > 1:
            dup.append(f"{area}/ holds attempts {sorted(attempts)}")
    if not packages or not renditions:
        broken.append(f"{len(packages)} packages, {len(renditions)} renditions")

    for row in renditions:
        outputs = [(row["uri"], row["size_bytes"], row["sha256"])]
        outputs += [(a["uri"], a["size_bytes"], a["sha256"]) for a in row["artifacts"]]
        for uri, size, sha in outputs:
            result.objects_checked += 1
            problem = _whole(store, uri, size, sha)
            if problem:
                broken.append(problem)
    for package in packages:
        for uri in (package["dash_manifest_uri"], package["metadata_uri"]):
            if uri and store.head(ObjectRef.parse(uri)) is None:
                broken.append(f"{uri} is missing")
        broken += _playlist_problems(store, ObjectRef.parse(package["hls_master_uri"]), result)
    return dup, broken


def _whole(store: ObjectStore, uri: str, size: int, sha256: str) -> str | None:
    try:
        body = store.stream(ObjectRef.parse(uri))["Body"].read()
    except Exception as exc:  # missing or unreadable: either way not whole
        return f"{uri}: {exc}"
    if len(body) != size:
        return f"{uri}: {len(body)} bytes, its event says {size}"
    if sha256 and hashlib.sha256(body).hexdigest() != sha256:
        return f"{uri}: SHA-256 differs from its event's"
    return None


_URI_ATTR = re.compile(r'URI="([^"]+)"')


def _playlist_problems(store: ObjectStore, ref: ObjectRef, result: Audit) -> list[str]:
    """Every file an HLS playlist references (recursively) exists and is not empty."""
    try:
        text = store.stream(ref)["Body"].read().decode()
    except Exception as exc:
        return [f"{ref.uri}: {exc}"]
    problems = []
    base = posixpath.dirname(ref.key)
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    names += _URI_ATTR.findall(text)
    for name in dict.fromkeys(names):
        child = ObjectRef(ref.bucket, posixpath.normpath(posixpath.join(base, name)))
        result.objects_checked += 1
        if name.endswith(".m3u8"):
            problems += _playlist_problems(store, child, result)
            continue
        head = store.head(child)
        if head is None or not head.get("ContentLength"):
            problems.append(f"{child.uri} referenced by {ref.key} is missing or empty")
    return problems
