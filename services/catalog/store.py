"""Applies a batch of records to the read models in ONE Postgres transaction, together with
the consumer offsets that say the batch is done ("storing offsets outside Kafka").

Inside the transaction, in this order (every lock is taken in a sorted order, so two
projectors sharing a database cannot deadlock on each other):

1. lock the batch's `consumer_offsets` rows and skip records below the stored offset: a
   zombie that lost its partitions, or a batch fetched around a rebalance, then applies
   nothing twice;
2. hand the undecodable records to the dead-letter callback (the Kafka write completes
   before the offsets that skip them are committed);
3. claim event ids in `applied_events` (`ON CONFLICT DO NOTHING RETURNING`): only the
   ids returned are new, so a redriven or re-produced event is a no-op;
4. lock the touched video rows (creating empty ones first, so concurrent first events for
   one video serialize instead of racing), fold the new events with the pure projection,
   write the rows back, add the insert-only rows, move the `current` package flag;
5. advance the offsets.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schemas import VIDEO_TRANSCODED
from schemas.events import ApiKeyState, DeadLetter, Event, SigningKeyState
from services.catalog import offsets
from services.catalog.jsonb import dumps
from services.catalog.projection import VideoState, project_event
from services.catalog.rows import Position, Row

VIDEO_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(VideoState))
_VIDEO_JSON = frozenset({"user_metadata", "source_info", "progress", "rendition_times",
                         "thumbnails", "source_declared", "source_measured"})
_ROW_JSON = frozenset({"artifacts", "renditions", "details", "original_headers"})

PartitionKey = offsets.PartitionKey


@dataclass(frozen=True)
class Item:
    """One consumed record: decoded (`event`) or not (`error` says why)."""

    position: Position
    event: Event | None
    record: Any = None
    error: BaseException | None = None

    @property
    def partition_key(self) -> PartitionKey:
        return (self.position.topic, self.position.partition)


DeadLetterSink = Callable[[Sequence[Item]], Awaitable[None]]


@dataclass
class BatchOutcome:
    applied: Counter[str] = field(default_factory=Counter)  # per topic
    duplicates: int = 0
    stale: int = 0
    dead_lettered: int = 0
    next_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    statuses_changed: bool = False


_VIDEO_JSON_AT = frozenset(i for i, name in enumerate(VIDEO_COLUMNS) if name in _VIDEO_JSON)


def video_params(video: VideoState) -> list[Any]:
    # JSON text, not psycopg's Jsonb: these values only ever go through COPY, where the
    # staging table's jsonb column parses text, so the extra dumper layer is pure cost.
    values = [getattr(video, name) for name in VIDEO_COLUMNS]
    for i in _VIDEO_JSON_AT:
        if values[i] is not None:
            values[i] = dumps(values[i])
    return values


def row_params(row: Row) -> list[Any]:
    """A row's values for COPY, jsonb columns as JSON text (see `video_params`)."""
    return [dumps(v) if c in _ROW_JSON else v for c, v in row.values.items()]


def _video_from_db(row: dict[str, Any]) -> VideoState:
    values = {name: row[name] for name in VIDEO_COLUMNS}
    values["video_id"] = str(values["video_id"])
    return VideoState(**values)


_SELECT_VIDEOS = sql.SQL(
    "SELECT {cols} FROM videos WHERE video_id = ANY(string_to_array(%s, ',')::uuid[])"
    " ORDER BY video_id FOR UPDATE"
).format(cols=sql.SQL(", ").join(map(sql.Identifier, VIDEO_COLUMNS)))
_STAGING = {table: f"_staged_{table}"
            for table in ("videos", "renditions", "packages", "timeline", "dead_letters")}
_UPDATE_VIDEOS = sql.SQL(
    "UPDATE videos v SET ({cols}) = ({staged}) FROM {table} s WHERE v.video_id = s.video_id"
).format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in VIDEO_COLUMNS if c != "video_id"),
    staged=sql.SQL(", ").join(sql.Identifier("s", c) for c in VIDEO_COLUMNS if c != "video_id"),
    table=sql.Identifier(_STAGING["videos"]),
)


def _insert_staged_sql(table: str, columns: Sequence[str]) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    # In staging order: when one batch holds two rows with the same natural key (a rendition
    # re-announced under a new event id), the first in log order wins, exactly as it does
    # when the two land in different batches, so a rebuild equals the live model.
    return sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM {staged}"
                   " ORDER BY _staged_order ON CONFLICT DO NOTHING"
                   ).format(t=sql.Identifier(table), cols=cols,
                            staged=sql.Identifier(_STAGING[table]))


class ProjectionStore:
    """The projector's write side, over one dedicated connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], group_id: str) -> None:
        self.conn = conn
        self.group_id = group_id
        self._staged = False

    async def stored_offsets(self, partitions: Sequence[PartitionKey]) -> dict[PartitionKey, int]:
        """Next offset to read per partition; partitions never applied are absent."""
        async with self.conn.transaction():
            found = await offsets.stored_offsets(self.conn, self.group_id)
        return {key: found[key] for key in partitions if key in found}

    async def rewind(self, partition: PartitionKey, next_offset: int) -> None:
        """Move a partition's stored offset back (only for a topic that was recreated)."""
        async with self.conn.transaction():
            await offsets.rewind(self.conn, self.group_id, partition, next_offset)

    async def apply(self, items: Sequence[Item], dead_letter: DeadLetterSink) -> BatchOutcome:
        outcome = BatchOutcome()
        if not items:
            return outcome
        staged_before = self._staged
        try:
            await self._apply_in_transaction(items, dead_letter, outcome)
        except BaseException:
            self._staged = staged_before  # a rollback also drops staging tables it created
            raise
        return outcome

    async def _apply_in_transaction(self, items: Sequence[Item], dead_letter: DeadLetterSink,
                                    outcome: BatchOutcome) -> None:
        async with self.conn.transaction():
            stored = await offsets.lock(self.conn, self.group_id,
                                        sorted({i.partition_key for i in items}))
            fresh = [i for i in items if i.position.offset >= stored[i.partition_key]]
            outcome.stale = len(items) - len(fresh)
            broken = [i for i in fresh if i.event is None]
            if broken:
                await dead_letter(broken)
                outcome.dead_lettered = len(broken)
            new = await self._claim([i for i in fresh if i.event is not None])
            outcome.duplicates = len(fresh) - len(broken) - len(new)
            outcome.statuses_changed = await self._project(new)
            outcome.applied.update(i.position.topic for i in new)
            for item in fresh:
                key = item.partition_key
                outcome.next_offsets[key] = max(outcome.next_offsets.get(key, 0),
                                                item.position.offset + 1)
            await offsets.advance(self.conn, self.group_id, outcome.next_offsets)

    async def _claim(self, items: list[Item]) -> list[Item]:
        """Keep the items whose event_id was never applied (first occurrence in the batch)."""
        first: dict[str, Item] = {}
        for item in items:
            assert item.event is not None
            first.setdefault(item.event.event_id, item)
        if not first:
            return []
        ids = list(first)
        positions = [first[i].position for i in ids]
        # Each column as ONE comma-separated text parameter, split by Postgres: psycopg
        # adapts a Python list element by element, which costs more than the INSERT.
        cur = await self.conn.execute(
            'INSERT INTO applied_events (event_id, topic, "partition", "offset")'
            " SELECT * FROM unnest(string_to_array(%s, ',')::uuid[],"
            " string_to_array(%s, ',')::text[], string_to_array(%s, ',')::int[],"
            " string_to_array(%s, ',')::bigint[]) ON CONFLICT DO NOTHING RETURNING event_id",
            (",".join(ids), ",".join(p.topic for p in positions),
             ",".join(str(p.partition) for p in positions),
             ",".join(str(p.offset) for p in positions)))
        claimed = {str(row[0]) for row in await cur.fetchall()}
        return [item for event_id, item in first.items() if event_id in claimed]

    async def _project(self, items: list[Item]) -> bool:
        video_ids = sorted({i.event.video_id for i in items
                            if i.event is not None and not isinstance(i.event, DeadLetter)
                            and not isinstance(i.event, ApiKeyState | SigningKeyState)})
        states = await self._lock_videos(video_ids)
        before = {vid: s.status if s else None for vid, s in states.items()}
        rows: list[Row] = []
        packaged: set[str] = set()
        for item in items:
            assert item.event is not None
            topic = item.position.topic
            if isinstance(item.event, DeadLetter):
                rows.extend(project_event(None, topic, item.event, item.position).rows)
                continue
            assert not isinstance(item.event, ApiKeyState | SigningKeyState), topic
            vid = item.event.video_id
            projection = project_event(states[vid], topic, item.event, item.position)
            states[vid] = projection.video
            rows.extend(projection.rows)
            if topic == VIDEO_TRANSCODED.name:
                packaged.add(vid)
        changed = [s for s in states.values() if s is not None]
        if changed:
            await self._stage("videos", VIDEO_COLUMNS, [video_params(s) for s in changed])
            await self.conn.execute(_UPDATE_VIDEOS)
        await self._insert_rows(rows)
        await self._move_current_packages([states[v] for v in sorted(packaged)])
        return any(before[s.video_id] != s.status for s in changed)

    async def _lock_videos(self, video_ids: list[str]) -> dict[str, VideoState | None]:
        if not video_ids:
            return {}
        # Placeholder rows make a video lockable before its first event is applied; they
        # are overwritten below, in this same transaction, so nobody ever sees one.
        cur = await self.conn.execute(
            "INSERT INTO videos (video_id, status, attempt, created_at, updated_at)"
            " SELECT v, 'uploaded', 0, now(), now() FROM unnest(string_to_array(%s, ',')::uuid[])"
            " AS v ON CONFLICT DO NOTHING RETURNING video_id", (",".join(video_ids),))
        created = {str(row[0]) for row in await cur.fetchall()}
        async with self.conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(_SELECT_VIDEOS, (",".join(video_ids),))
            found = {str(r["video_id"]): r for r in await dcur.fetchall()}
        return {vid: None if vid in created else _video_from_db(found[vid]) for vid in video_ids}

    async def _insert_rows(self, rows: list[Row]) -> None:
        grouped: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = defaultdict(list)
        for row in rows:
            grouped[(row.table, tuple(row.values))].append(row_params(row))
        for (table, columns), params in grouped.items():
            await self._stage(table, columns, params)
            await self.conn.execute(_insert_staged_sql(table, columns))

    async def _stage(self, table: str, columns: Sequence[str], params: list[list[Any]]) -> None:
        """COPY rows into the table's session-private staging twin (emptied at commit)."""
        if not self._staged:
            await self._create_staging()
        async with self.conn.cursor() as cur:
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(_STAGING[table]), sql.SQL(", ").join(map(sql.Identifier, columns)))
            async with cur.copy(copy_sql) as copy:
                for values in params:
                    await copy.write_row(values)

    async def _create_staging(self) -> None:
        # Temp tables live as long as the connection; ON COMMIT DELETE ROWS empties them
        # after every batch. Created in the batch's transaction, so a rollback undoes them.
        for table, staging in _STAGING.items():
            await self.conn.execute(sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS"
                " AS SELECT * FROM {} WITH NO DATA").format(  # types only, no constraints
                    sql.Identifier(staging), sql.Identifier(table)))
            await self.conn.execute(sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS _staged_order bigserial").format(
                    sql.Identifier(staging)))
        self._staged = True

    async def _move_current_packages(self, videos: list[VideoState | None]) -> None:
        current = [(v.video_id, v.current_package_attempt, v.current_package_revision or 1)
                   for v in videos
                   if v is not None and v.current_package_attempt is not None]
        if not current:
            return
        ids, attempts = [c[0] for c in current], [c[1] for c in current]
        revisions = [c[2] for c in current]
        # Two statements: the partial unique index allows one current package per video
        # at every moment, and a single UPDATE could set the new flag before clearing the old.
        await self.conn.execute(
            "UPDATE packages p SET current = false FROM unnest(%s::uuid[], %s::int[], %s::int[])"
            " AS c(video_id, attempt, revision) WHERE p.video_id = c.video_id AND p.current"
            " AND (p.attempt, p.revision) <> (c.attempt, c.revision)", (ids, attempts, revisions))
        await self.conn.execute(
            "UPDATE packages p SET current = true FROM unnest(%s::uuid[], %s::int[], %s::int[])"
            " AS c(video_id, attempt, revision) WHERE p.video_id = c.video_id"
            " AND p.attempt = c.attempt AND p.revision = c.revision AND NOT p.current",
            (ids, attempts, revisions))
