"""Stuck work: videos that have been in their stage (uploaded, transcoding, packaging) for
longer than N times that stage's median, the median taken over the videos that left the
stage in the last day. A floor keeps a fast pipeline's tiny medians from flagging everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.catalog.queries import Conn

#: Each stage, the column that says when a video entered it, and the one when it left.
STAGES = {"uploaded": ("uploaded_at", "transcoding_at"),
          "transcoding": ("transcoding_at", "packaging_at"),
          "packaging": ("packaging_at", "ready_at")}


@dataclass(frozen=True)
class InStage:
    video_id: str
    title: str | None
    owner: str | None
    stage: str
    age_s: float


def stuck(videos: Sequence[InStage], medians: Mapping[str, float], factor: float,
          floor_s: float) -> list[dict[str, Any]]:
    """The videos over `factor` x their stage's median (and over `floor_s`), oldest first.
    A stage nobody finished yet has no median: only the floor applies there."""
    out = []
    for v in videos:
        median = medians.get(v.stage)
        limit = max(floor_s, factor * median) if median is not None else floor_s
        if v.age_s > limit:
            out.append({"video_id": v.video_id, "title": v.title, "owner": v.owner,
                        "stage": v.stage, "in_stage_s": round(v.age_s, 1),
                        "stage_median_s": None if median is None else round(median, 1),
                        "limit_s": round(limit, 1)})
    return sorted(out, key=lambda row: -row["in_stage_s"])


async def medians(conn: Conn) -> dict[str, float]:
    found = {}
    for stage, (entered, left) in STAGES.items():
        cur = await conn.execute(
            f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY"  # noqa: S608 (fixed names)
            f" extract(epoch FROM {left} - {entered})) FROM videos"
            f" WHERE {left} IS NOT NULL AND {entered} IS NOT NULL AND {left} >= {entered}"
            f" AND {left} > now() - interval '1 day'")
        row = await cur.fetchone()
        if row and row[0] is not None:
            found[stage] = float(row[0])
    return found


async def in_stage(conn: Conn, limit: int = 500) -> list[InStage]:
    cur = await conn.execute(
        "SELECT video_id::text, title, owner, status, extract(epoch FROM now() - CASE status"
        " WHEN 'uploaded' THEN coalesce(uploaded_at, attempt_started_at, created_at)"
        " WHEN 'transcoding' THEN transcoding_at WHEN 'packaging' THEN packaging_at END)"
        " FROM videos WHERE status IN ('uploaded', 'transcoding', 'packaging')"
        " ORDER BY updated_at LIMIT %s", (limit,))
    return [InStage(v, t, o, s, float(a or 0.0)) for v, t, o, s, a in await cur.fetchall()]
