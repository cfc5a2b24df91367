"""Read-side SQL: the queries behind the HTTP API. Rows come back as dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.catalog.paging import Order, SortKey, decode_cursor, page, page_rows

Conn = psycopg.AsyncConnection[Any]

_VIDEO_ID = (sql.Identifier("video_id"), "uuid")
_CREATED = (sql.Identifier("created_at"), "timestamptz")


def _completed(order: Order) -> tuple[sql.Composable, str]:
    # Unfinished videos (no completed_at) sort last in both directions.
    sentinel = "-infinity" if order == "desc" else "infinity"
    return (sql.SQL("coalesce(completed_at, {}::timestamptz)").format(sql.Literal(sentinel)),
            "timestamptz")


def video_sort(sort: str, order: Order) -> SortKey:
    if sort == "created_at":
        return SortKey(sort, (_CREATED, _VIDEO_ID))
    if sort == "completed_at":
        return SortKey(sort, (_completed(order), _VIDEO_ID))
    if sort == "priority":
        return SortKey(sort, ((sql.Identifier("priority"), "integer"), _CREATED, _VIDEO_ID))
    raise ValueError(f"unknown sort {sort!r}")


@dataclass(frozen=True)
class VideoFilters:
    statuses: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    tags: tuple[str, ...] = ()
    #: `meta.<key>=<value>` query parameters: key -> raw text value.
    meta: dict[str, str] = field(default_factory=dict)
    q: str | None = None
    owner: str | None = None


def _meta_candidates(key: str, value: str) -> list[Jsonb]:
    """`meta.year=2024` matches the string "2024" and the number 2024 (likewise booleans)."""
    candidates = [Jsonb({key: value})]
    try:
        typed = json.loads(value)
    except ValueError:
        return candidates
    if isinstance(typed, (int, float, bool)) or typed is None:
        candidates.append(Jsonb({key: typed}))
    return candidates


def _video_conditions(filters: VideoFilters) -> tuple[list[sql.Composable], list[Any]]:
    conds: list[sql.Composable] = []
    params: list[Any] = []
    if filters.statuses:
        conds.append(sql.SQL("status = ANY(%s)"))
        params.append(list(filters.statuses))
    if filters.created_from:
        conds.append(sql.SQL("created_at >= %s"))
        params.append(filters.created_from)
    if filters.created_to:
        conds.append(sql.SQL("created_at < %s"))
        params.append(filters.created_to)
    if filters.owner:
        conds.append(sql.SQL("owner = %s"))
        params.append(filters.owner)
    for tag in filters.tags:
        # Containment, so the GIN (jsonb_path_ops) index on user_metadata serves it.
        conds.append(sql.SQL("user_metadata @> %s"))
        params.append(Jsonb({"tags": [tag]}))
    for key, value in sorted(filters.meta.items()):
        candidates = _meta_candidates(key, value)
        conds.append(sql.SQL("({})").format(
            sql.SQL(" OR ").join(sql.SQL("user_metadata @> %s") for _ in candidates)))
        params.extend(candidates)
    return conds, params


#: Text search's two sides (`q`): title and description, or the words spoken in the video
#: (its transcripts). Each is its own arm of a UNION (`list_videos`), so the planner picks
#: per side: a common word walks the sort's index and stops after a page of matches, a
#: rare one reads its GIN entries. As one `video_id IN (... UNION ...)` condition, every
#: match was hashed first and the page sorted from all of them: `q=harbour` (35 % of
#: 100,000 videos) took 360 ms a query (README, issue 18).
_SEARCHED = (
    sql.SQL("search @@ websearch_to_tsquery('simple', %s)"),
    sql.SQL("video_id IN (SELECT video_id FROM transcripts"
            " WHERE search @@ websearch_to_tsquery('simple', %s))"))


#: A listing's columns, shaped in SQL into what a summary shows (`views.listed_video`
#: reads them by position, in this order; the sort key's `_k*` text columns follow). The
#: page then never carries a row's whole `user_metadata` and `thumbnails` (its image list)
#: out of Postgres and through a JSON parse, only the tags and the primary picture; the
#: JSONB columns come as text and timestamps as `timestamptz` (issue 18: the listing's
#: Python side, row decoding included, was most of its 3.5-4 API CPU-ms a page).
LISTED_COLUMNS = (
    "video_id", "status", "attempt", "title", "owner", "priority", "tags", "created_at",
    "updated_at", "completed_at", "duration_seconds", "source_size_bytes", "progress",
    "error_code", "latency_ms", "playable", "thumbnail")
_LISTED = sql.SQL(
    "video_id::text, status, attempt, title, owner, priority,"
    " (user_metadata -> 'tags')::text, created_at, updated_at, completed_at,"
    " duration_seconds, source_size_bytes, progress::text, error_code, latency_ms,"
    " current_package_attempt IS NOT NULL,"
    # As `views._primary_thumbnail`: transcode's primary picture, else the upload's own.
    " coalesce(nullif(thumbnails ->> 'primary', ''), custom_thumbnail_uri)"
)


async def list_videos(conn: Conn, filters: VideoFilters, sort: str, order: Order, limit: int,
                      cursor: str | None) -> tuple[list[tuple[Any, ...]], str | None]:
    """A page of `LISTED_COLUMNS` rows (with the key columns after them) and the cursor to
    the next page."""
    key = video_sort(sort, order)
    conds, params = _video_conditions(filters)
    if cursor:
        conds.append(key.after(order))
        params.extend(decode_cursor(cursor, "videos", sort, order, len(key.parts)))

    def one_page(where: list[sql.Composable]) -> sql.Composed:
        joined = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        return sql.SQL("SELECT {cols}, {keys} FROM videos{where} ORDER BY {order} LIMIT %s"
                       ).format(cols=_LISTED, keys=key.selected(), where=joined,
                                order=key.order_by(order))

    if filters.q:
        # A page of each side, then the page of both (UNION drops a video both found).
        query = sql.SQL("SELECT * FROM (({}) UNION ({})) AS found ORDER BY {} LIMIT %s").format(
            *(one_page([*conds, side]) for side in _SEARCHED), key.order_by(order))
        values = [*params, filters.q, limit + 1, *params, filters.q, limit + 1, limit + 1]
    else:
        query, values = one_page(conds), [*params, limit + 1]
    async with conn.cursor() as cur:
        # Never prepared: a prepared statement goes to Postgres' generic plan after five
        # runs when that plan's estimate is lower, and for a listing it is blind to the
        # filter's values: two tags + meta.year then read 2,008 pages for 51 rows instead of
        # 211 (EXPLAIN ANALYZE at 100,000 videos, warm: 8-12 ms against 1.2 ms, and 0.2-0.4
        # ms of planning). Each listing is planned for its own values instead.
        await cur.execute(query, values, prepare=False)
        return page_rows(await cur.fetchall(), limit, key, "videos", order)


#: A rendition's quality: its rendition-scored figures once they arrived (issue 16), else
#: what its rendition-done carried (writers before rendition-done v4 scored inline).
_RENDITIONS_WITH_SCORES = (
    "SELECT r.*, coalesce(s.vmaf, r.vmaf) AS vmaf, coalesce(s.psnr, r.psnr) AS psnr,"
    " coalesce(s.ssim, r.ssim) AS ssim, coalesce(s.vmaf_floor, r.vmaf_floor) AS vmaf_floor,"
    " coalesce(s.below_floor, r.below_floor) AS below_floor,"
    " coalesce(s.frames_scored, r.frames_scored) AS frames_scored,"
    " s.chunks AS quality_chunks"
    " FROM renditions r LEFT JOIN rendition_scores s USING (video_id, attempt, rendition)"
    " WHERE r.video_id = %s"
    " ORDER BY r.attempt, r.media_type, r.height NULLS LAST, r.rendition")


async def get_video(conn: Conn, video_id: str) -> dict[str, Any] | None:
    # One pipeline, so one network round trip for the three reads instead of three.
    async with conn.pipeline(), conn.cursor(row_factory=dict_row) as videos, \
            conn.cursor(row_factory=dict_row) as renditions, \
            conn.cursor(row_factory=dict_row) as packages:
        await videos.execute("SELECT * FROM videos WHERE video_id = %s", (video_id,))
        await renditions.execute(_RENDITIONS_WITH_SCORES, (video_id,))
        await packages.execute("SELECT * FROM packages WHERE video_id = %s"
                               " ORDER BY attempt, revision", (video_id,))
        video = await videos.fetchone()
        if video is None:
            return None
        video["renditions"] = await renditions.fetchall()
        video["packages"] = await packages.fetchall()
    return video


_TIMELINE_KEY = SortKey("occurred_at", (
    (sql.Identifier("occurred_at"), "timestamptz"), (sql.Identifier("event_id"), "uuid")))


async def timeline(conn: Conn, video_id: str, limit: int,
                   cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    conds: list[sql.Composable] = [sql.SQL("video_id = %s")]
    params: list[Any] = [video_id]
    if cursor:
        conds.append(_TIMELINE_KEY.after("asc"))
        params.extend(decode_cursor(cursor, "timeline", "occurred_at", "asc", 2))
    query = sql.SQL(
        'SELECT event_id, occurred_at, kind, topic, "partition", "offset", attempt, summary,'
        " details, recorded_at, {keys} FROM timeline WHERE {conds} ORDER BY {order} LIMIT %s"
    ).format(keys=_TIMELINE_KEY.selected(), conds=sql.SQL(" AND ").join(conds),
             order=_TIMELINE_KEY.order_by("asc"))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*params, limit + 1])
        return page(await cur.fetchall(), limit, _TIMELINE_KEY, "timeline", "asc")


async def video_known(conn: Conn, video_id: str) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM videos WHERE video_id = %s)"
        " OR EXISTS (SELECT 1 FROM timeline WHERE video_id = %s)", (video_id, video_id))
    row = await cur.fetchone()
    return bool(row and row[0])


async def video_owner(conn: Conn, video_id: str) -> tuple[bool, str | None]:
    """(in the videos table, owner) of a video."""
    cur = await conn.execute("SELECT owner FROM videos WHERE video_id = %s", (video_id,))
    row = await cur.fetchone()
    return (row is not None, row[0] if row else None)


def _owned(owner: str | None, column: str = "owner") -> tuple[sql.Composable, list[Any]]:
    """A WHERE clause limiting rows to one tenant's videos (none: every video)."""
    if owner is None:
        return sql.SQL(""), []
    return sql.SQL(" WHERE {} = %s").format(sql.Identifier(*column.split("."))), [owner]


async def status_counts(conn: Conn, owner: str | None = None) -> dict[str, int]:
    where, params = _owned(owner)
    cur = await conn.execute(
        sql.SQL("SELECT status, count(*) FROM videos{} GROUP BY status").format(where), params)
    return {status: count for status, count in await cur.fetchall()}


async def stats(conn: Conn, owner: str | None = None) -> dict[str, Any]:
    """Running figures over every video, or over one tenant's (`owner`)."""
    where, params = _owned(owner)
    joined, joined_params = _owned(owner, "v.owner")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL(
            "SELECT count(*) AS total,"
            " coalesce(sum(source_size_bytes), 0)::bigint AS input_bytes,"
            " (avg(latency_ms) FILTER (WHERE status = 'ready'))::float8 AS avg_latency_ms,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
            "   FILTER (WHERE status = 'ready') AS p95_latency_ms,"
            " count(*) FILTER (WHERE ready_at >= now() - interval '1 hour'"
            "   AND status = 'ready') AS ready_last_hour,"
            " count(*) FILTER (WHERE ready_at >= now() - interval '1 day'"
            "   AND status = 'ready') AS ready_last_day,"
            " coalesce(sum(source_size_bytes) FILTER (WHERE ready_at >= now() - interval"
            "   '1 hour' AND status = 'ready'), 0)::bigint AS ready_bytes_last_hour,"
            " coalesce(sum(source_size_bytes) FILTER (WHERE ready_at >= now() - interval"
            "   '1 day' AND status = 'ready'), 0)::bigint AS ready_bytes_last_day,"
            " count(*) FILTER (WHERE created_at >= now() - interval '1 hour')"
            "   AS submitted_last_hour,"
            " count(*) FILTER (WHERE created_at >= now() - interval '1 day')"
            "   AS submitted_last_day"
            " FROM videos{}").format(where), params)
        totals = await cur.fetchone()
        if owner is None:
            await cur.execute(
                "SELECT (SELECT coalesce(sum(total_bytes), 0)::bigint FROM packages"
                "   WHERE current) AS output_bytes,"
                " (SELECT coalesce(sum(size_bytes), 0)::bigint FROM renditions)"
                "   AS rendition_bytes,"
                " (SELECT count(*) FROM dead_letters) AS dead_letters")
        else:
            await cur.execute(sql.SQL(
                "SELECT (SELECT coalesce(sum(p.total_bytes), 0)::bigint FROM packages p"
                "   JOIN videos v USING (video_id){w} AND p.current) AS output_bytes,"
                " (SELECT coalesce(sum(r.size_bytes), 0)::bigint FROM renditions r"
                "   JOIN videos v USING (video_id){w}) AS rendition_bytes,"
                " (SELECT count(*) FROM dead_letters d JOIN videos v"
                "   ON d.video_id = v.video_id::text{w}) AS dead_letters").format(w=joined),
                joined_params * 3)
        outputs = await cur.fetchone()
    assert totals is not None and outputs is not None
    return {**totals, **outputs, "by_status": await status_counts(conn, owner)}


@dataclass(frozen=True)
class DeadLetterFilters:
    original_topic: str | None = None
    error_code: str | None = None
    consumer_group: str | None = None
    video_id: str | None = None


_DEAD_LETTER_KEY = SortKey("occurred_at", (
    (sql.Identifier("occurred_at"), "timestamptz"), (sql.Identifier("id"), "uuid")))
_DEAD_LETTER_SUMMARY = sql.SQL(
    "id, video_id, occurred_at, original_topic, original_partition, original_offset,"
    " consumer_group, error_code, error_class, error_message, attempts, redrive_count,"
    " recorded_at")


async def dead_letters(conn: Conn, filters: DeadLetterFilters, limit: int,
                       cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    conds: list[sql.Composable] = []
    params: list[Any] = []
    for column in ("original_topic", "error_code", "consumer_group", "video_id"):
        value = getattr(filters, column)
        if value:
            conds.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if cursor:
        conds.append(_DEAD_LETTER_KEY.after("desc"))
        params.extend(decode_cursor(cursor, "dead-letters", "occurred_at", "desc", 2))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds) if conds else sql.SQL("")
    query = sql.SQL("SELECT {cols}, {keys} FROM dead_letters{where} ORDER BY {order} LIMIT %s"
                    ).format(cols=_DEAD_LETTER_SUMMARY, keys=_DEAD_LETTER_KEY.selected(),
                             where=where, order=_DEAD_LETTER_KEY.order_by("desc"))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*params, limit + 1])
        return page(await cur.fetchall(), limit, _DEAD_LETTER_KEY, "dead-letters", "desc")


async def dead_letter(conn: Conn, dead_letter_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM dead_letters WHERE id = %s", (dead_letter_id,))
        return await cur.fetchone()


async def newest_transcript(conn: Conn, video_id: str) -> dict[str, Any] | None:
    """The transcript of the video's newest attempt that has one."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT video_id, attempt, language, language_probability, outcome, text,"
            " segments FROM transcripts WHERE video_id = %s ORDER BY attempt DESC LIMIT 1",
            (video_id,))
        return await cur.fetchone()
