"""Applies a batch of records to the read models in ONE Postgres transaction, together with
the consumer offsets that say the batch is done ("storing offsets outside Kafka").

Inside the transaction, in this order (every lock is taken in a sorted order, so two
projectors sharing a database cannot deadlock on each other):

1. lock the batch's `consumer_offsets` rows and skip records below the stored offset: a
   zombie that lost its partitions, or a batch fetched around a rebalance, then applies
   nothing twice;
2. hand the undecodable records to the dead-letter callback (the Kafka write completes
   before the offsets that skip them are committed);
3. lock the touched video rows that exist, and fold the batch's events (the first copy of
   each event id) with the pure projection (`project_event`, a video's events together);
4. claim the events (see below); in the rare batch that held an event applied before,
   fold again without it, from the rows as they were locked;
5. write the video rows: a new video's row is COPYed once, as the fold left it (concurrent
   first events for one video meet at its unique index: the later batch runs again and
   then finds the row, `_write_videos`), an existing one updated; move the `current`
   package flag off packages it left, and add the other rows (the flag written with the
   package row: `package_current`);
6. advance the offsets.

Every row goes in by binary COPY (`copying`), into its table directly wherever the row
is new, which it almost always is while projecting (`_insert_rows`).

How an event is applied once. Offsets in the same transaction make a re-read of the
same record (a crash, a rebalance, a zombie) a no-op: that is step 1. What is left is the
same event at another offset, a redrive or an upstream's re-publish, which can come at
any time later, so its id must be known for as long as the read model holds the event.
The read model already holds it: every event's projection has one row keyed by the
event's own id (its `timeline` entry; a dead letter's `dead_letters` row), so claiming an
event IS inserting that row, `INSERT … ON CONFLICT DO NOTHING RETURNING` the ids that were
new. Kept nowhere else, the ids live exactly as long as the rows that show the event, and
cost no insert of their own. `applied_events` (which used to hold every id ever applied,
without bound) now only claims an event whose projection has no such row; today's
events all have one. The rules stay one pure per-event function: a new event's rows
claim it the same way as soon as one of them is a `CLAIM_KEYS` row with its id.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from schemas import VIDEO_TRANSCODED
from schemas.events import ApiKeyState, DeadLetter, Event, SigningKeyState
from services.catalog import offsets
from services.catalog.copying import TABLE_SHAPE, TableShape, copy_sql, use_row_dumpers
from services.catalog.projection import VideoState, event_rows, project_events
from services.catalog.rows import Position, Row

#: Tables whose key column holds the id of the event that made the row: that row claims
#: the event (module docstring).
CLAIM_KEYS = {"timeline": "event_id", "dead_letters": "id"}

VIDEO_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(VideoState))
_VIDEO_VALUES = operator.attrgetter(*VIDEO_COLUMNS)

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


def video_params(video: VideoState) -> tuple[Any, ...]:
    """A video row's values for binary COPY (`copying`: jsonb values stay objects)."""
    return _VIDEO_VALUES(video)  # type: ignore[no-any-return]


def row_params(row: Row) -> list[Any]:
    """A row's values for binary COPY, in its columns' order."""
    return list(row.values.values())


def first_per_key(params: Sequence[Sequence[Any]],
                  key_at: Sequence[int]) -> list[Sequence[Any]]:
    """The first row of each key (the values at `key_at`), in order: what `INSERT … ON
    CONFLICT DO NOTHING` in that order keeps of rows that are all new. A rendition
    re-announced under a new event id in the same batch is such a second row."""
    key = operator.itemgetter(*key_at)
    first: dict[Any, Sequence[Any]] = {}
    for values in params:
        first.setdefault(key(values), values)
    return list(first.values())


def package_current(row: Row, video: VideoState | None) -> bool:
    """Whether a package row is its video's current package (the video's row as the batch
    leaves it): the flag is written with the row, never as a second version of it."""
    values = row.values
    return (video is not None and video.current_package_attempt == values["attempt"]
            and (video.current_package_revision or 1) == values["revision"])


def _video_from_db(values: Sequence[Any]) -> VideoState:
    """A `videos` row selected as `_SELECT_VIDEOS` does (columns in VIDEO_COLUMNS order)."""
    return VideoState(*values)  # the dataclass' fields are VIDEO_COLUMNS, in order


#: Times a batch is run again when its claim COPY met a concurrent insert (`_claim`).
_CLAIM_RACES = 3
_XID_MASK = 0xFFFFFFFF  # xmin is the 32-bit xid; pg_current_xact_id() adds the epoch
#: Lock the batch's video rows (sorted: no deadlock between projectors) and read only
#: their versions; full rows are read for those the cache does not hold (`VideoCache`).
_LOCK_VIDEOS = sql.SQL(
    "SELECT video_id::text, xmin::text, pg_current_xact_id()::text FROM videos"
    " WHERE video_id = ANY(string_to_array(%s, ',')::uuid[]) ORDER BY video_id FOR UPDATE")
_SELECT_VIDEOS = sql.SQL(
    "SELECT {cols} FROM videos WHERE video_id = ANY(string_to_array(%s, ',')::uuid[])"
).format(cols=sql.SQL(", ").join(
    sql.SQL("video_id::text") if c == "video_id" else sql.Identifier(c) for c in VIDEO_COLUMNS))


class VideoCache:
    """The video rows this projector last wrote (or read), each with the xmin its row had
    then, so a batch reads only the versions of the rows it locks, and the whole row only
    when the version differs: another projector, a rebuild's switch, a migration or
    VACUUM FREEZE (xmin reads 2) wrote it since. A false hit would need another transaction
    with our xid writing the row: xids are unique until wraparound, and an entry is
    evicted long before (least recently used first, `capacity` entries). Filled only after
    a batch committed: a rolled back batch's rows never existed."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, tuple[int, VideoState]] = OrderedDict()

    def get(self, video_id: str, xmin: int) -> VideoState | None:
        entry = self._rows.get(video_id)
        if entry is None or entry[0] != xmin:
            return None
        self._rows.move_to_end(video_id)
        return entry[1]

    def put(self, xmin: int, states: Sequence[VideoState]) -> None:
        rows = self._rows
        for state in states:
            rows[state.video_id] = (xmin, state)
            rows.move_to_end(state.video_id)
        while len(rows) > self.capacity:
            rows.popitem(last=False)
_STAGING = {table: f"_staged_{table}"
            for table in ("videos", "renditions", "packages", "timeline", "dead_letters",
                          "rendition_scores")}
_UPDATE_VIDEOS = sql.SQL(
    "UPDATE videos v SET ({cols}) = ({staged}) FROM {table} s WHERE v.video_id = s.video_id"
).format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in VIDEO_COLUMNS if c != "video_id"),
    staged=sql.SQL(", ").join(sql.Identifier("s", c) for c in VIDEO_COLUMNS if c != "video_id"),
    table=sql.Identifier(_STAGING["videos"]),
)


def _insert_staged_sql(table: str, columns: Sequence[str],
                       returning: str | None = None) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    # In staging order: when one batch holds two rows with the same natural key (a rendition
    # re-announced under a new event id), the first in log order wins, exactly as it does
    # when the two land in different batches, so a rebuild equals the live model.
    query = sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM {staged}"
                    " ORDER BY _staged_order ON CONFLICT DO NOTHING"
                    ).format(t=sql.Identifier(table), cols=cols,
                             staged=sql.Identifier(_STAGING[table]))
    if returning is None:
        return query
    return sql.SQL("{} RETURNING {}").format(query, sql.Identifier(returning))


def _first_copies(items: list[Item]) -> list[Item]:
    """The first item of each event id, in batch order (a producer retry's second copy
    right behind the first is not applied again)."""
    first: dict[str, Item] = {}
    for item in items:
        assert item.event is not None
        first.setdefault(item.event.event_id, item)
    return list(first.values())


@dataclass
class _Fold:
    """A batch folded: each video's new row, per item its claim row (or None) and its
    other rows, and the videos whose package may have moved."""

    states: dict[str, VideoState | None]
    claims: list[Row | None]
    rest: list[list[Row]]
    packaged: set[str]


def _status(video: VideoState | None) -> str | None:
    return video.status if video is not None else None


def _claim_row(event: Event, rows: Sequence[Row]) -> Row | None:
    for row in rows:
        key = CLAIM_KEYS.get(row.table)
        if key is not None and row.values.get(key) == event.event_id:
            return row
    return None


def _fold(items: Sequence[Item], locked: dict[str, VideoState | None]) -> _Fold:
    """Pure: `project_event` over the items, from the locked rows (never changed). Each
    video's events are folded together (`project_events`, the same result as one by one):
    videos are independent, and each one's events keep their batch order."""
    fold = _Fold(dict(locked), [], [], set())
    per_video: dict[str, list[Event]] = defaultdict(list)
    for item in items:
        event = item.event
        assert event is not None
        topic = item.position.topic
        rows = event_rows(topic, event, item.position)
        if not isinstance(event, DeadLetter):
            assert not isinstance(event, ApiKeyState | SigningKeyState), topic
            per_video[event.video_id].append(event)
            if topic == VIDEO_TRANSCODED.name:
                fold.packaged.add(event.video_id)
        claim = _claim_row(event, rows)
        fold.claims.append(claim)
        fold.rest.append([r for r in rows if r is not claim])
    states = fold.states
    for vid, events in per_video.items():
        states[vid] = project_events(states[vid], events)
    return fold


class ProjectionStore:
    """The projector's write side, over one dedicated connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], group_id: str) -> None:
        self.conn = conn
        set_json_loads(orjson.loads, conn)  # the video rows' jsonb columns, read back
        use_row_dumpers(conn)
        #: Column types and keys of the tables it COPYs into, read once per connection.
        self._shapes: dict[str, TableShape] = {}
        self.group_id = group_id
        self._staged = False
        self._cache = VideoCache()
        self._xid = 0
        #: Video rows this transaction wrote, cached once it commits.
        self._written: list[VideoState] = []
        #: Staging tables filled in the current transaction (emptied only at its commit).
        self._filled: set[str] = set()

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
        for attempt in itertools.count(1):
            self._filled.clear()
            self._written = []
            outcome = BatchOutcome()
            try:
                await self._apply_in_transaction(items, dead_letter, outcome)
                break
            except psycopg.errors.UniqueViolation:
                self._staged = staged_before
                if attempt >= _CLAIM_RACES:  # not a race: a bug, bisected by the projector
                    raise
            except BaseException:
                self._staged = staged_before  # a rollback also drops staging tables it created
                raise
        self._cache.put(self._xid, self._written)
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
            decoded = [i for i in fresh if i.event is not None]
            new, outcome.statuses_changed = await self._project(_first_copies(decoded))
            outcome.duplicates = len(decoded) - len(new)
            outcome.applied.update(i.position.topic for i in new)
            for item in fresh:
                key = item.partition_key
                outcome.next_offsets[key] = max(outcome.next_offsets.get(key, 0),
                                                item.position.offset + 1)
            await offsets.advance(self.conn, self.group_id, outcome.next_offsets)

    async def _project(self, items: list[Item]) -> tuple[list[Item], bool]:
        """Fold, claim and write `items`; returns the items that were new, and whether a
        video's status changed."""
        video_ids = sorted({i.event.video_id for i in items
                            if i.event is not None and not isinstance(i.event, DeadLetter)
                            and not isinstance(i.event, ApiKeyState | SigningKeyState)})
        locked = await self._lock_videos(video_ids)
        fold = _fold(items, locked)
        new = await self._claim(items, fold)
        if len(new) < len(items):  # rare: an event applied before, at another offset
            fold = _fold(new, locked)
        states = fold.states
        # Identity: the fold makes a new row for every video it touched.
        changed = [s for v, s in states.items() if s is not None and s is not locked[v]]
        await self._write_videos(changed, locked)
        packaged = [states[v] for v in sorted(fold.packaged)]
        await self._clear_current_packages(packaged)
        await self._insert_rows([r for rows in fold.rest for r in rows], states)
        return new, any(_status(locked[s.video_id]) != s.status for s in changed)

    async def _write_videos(self, changed: list[VideoState],
                            locked: dict[str, VideoState | None]) -> None:
        """Rows the batch created are COPYed into `videos` once, as the fold left them
        (in video id order: two projectors creating the same videos wait on each other's
        unique index entries in one order, never in a cycle); a concurrent first event of
        the same video, committed before this COPY, makes it fail with a unique violation,
        and `apply` runs the batch again, which then finds the row and locks it. Rows that
        existed are updated from a staging table."""
        created = [s for s in changed if locked[s.video_id] is None]
        updated = [s for s in changed if locked[s.video_id] is not None]
        if created:
            await self._copy("videos", VIDEO_COLUMNS, [video_params(s) for s in created])
        if updated:
            await self._stage("videos", VIDEO_COLUMNS, [video_params(s) for s in updated])
            await self.conn.execute(_UPDATE_VIDEOS)
        self._written = changed

    async def _claim(self, items: list[Item], fold: _Fold) -> list[Item]:
        """Insert each item's claim row (or, lacking one, its `applied_events` row); keep
        the items whose row was new.

        The claim rows are COPYed straight into their tables, half the cost of staging
        them and inserting `ON CONFLICT`. First optimistically, in a savepoint: an event
        applied before (a redrive, a re-publish at another offset) is rare, and the table's
        own unique index finds it. Only then are the ids already there looked up, and the
        other rows COPYed. Another transaction inserting the same id between that lookup
        and the COPY (an event on two partitions at once, which two projectors could apply
        together) can still make the COPY fail: `apply` runs the batch again, and the
        lookup sees it.
        """
        by_table: dict[tuple[str, tuple[str, ...]], list[Row]] = defaultdict(list)
        unkeyed: list[Item] = []
        for item, row in zip(items, fold.claims, strict=True):
            if row is None:
                unkeyed.append(item)
            else:
                by_table[(row.table, tuple(row.values))].append(row)
        claimed: set[str] = set()
        for (table, columns), rows in by_table.items():
            key = CLAIM_KEYS[table]
            ids = [str(r.values[key]) for r in rows]
            params = [row_params(r) for r in rows]
            try:
                async with self.conn.transaction():  # a savepoint
                    await self._copy(table, columns, params)
            except psycopg.errors.UniqueViolation:
                pass  # some were applied before: find them
            else:
                claimed.update(ids)
                continue
            cur = await self.conn.execute(sql.SQL(
                "SELECT {key}::text FROM {table}"
                " WHERE {key} = ANY(string_to_array(%s, ',')::uuid[])"
            ).format(key=sql.Identifier(key), table=sql.Identifier(table)), (",".join(ids),))
            known = {r[0] for r in await cur.fetchall()}
            fresh = [i for i, id_ in enumerate(ids) if id_ not in known]
            await self._copy(table, columns, [params[i] for i in fresh])
            claimed.update(ids[i] for i in fresh)
        claimed.update(await self._claim_unkeyed(unkeyed))
        return [i for i in items if i.event is not None and i.event.event_id in claimed]

    async def _claim_unkeyed(self, items: list[Item]) -> set[str]:
        if not items:
            return set()
        ids = [i.event.event_id for i in items if i.event is not None]
        positions = [i.position for i in items]
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
        return {str(row[0]) for row in await cur.fetchall()}

    async def _lock_videos(self, video_ids: list[str]) -> dict[str, VideoState | None]:
        """Lock the rows of `video_ids` that exist and read them (None: no row yet, the
        batch creates it, see `_write_videos`)."""
        if not video_ids:
            return {}
        cur = await self.conn.execute(_LOCK_VIDEOS, (",".join(video_ids),))
        versions = await cur.fetchall()
        if versions:
            xid = versions[0][2]
        else:  # every video is new: the xid our writes will carry, asked for alone
            cur = await self.conn.execute("SELECT pg_current_xact_id()::text")
            (xid,), = await cur.fetchall()
        self._xid = int(xid) & _XID_MASK  # the xmin our writes will carry
        found: dict[str, VideoState | None] = dict.fromkeys(video_ids)
        missing = []
        for vid, xmin, _ in versions:
            cached = self._cache.get(vid, int(xmin))
            if cached is None:
                missing.append(vid)
            else:
                found[vid] = cached
        if missing:
            cur = await self.conn.execute(_SELECT_VIDEOS, (",".join(missing),))
            for values in await cur.fetchall():
                state = _video_from_db(values)
                found[state.video_id] = state
        return found

    async def _insert_rows(self, rows: list[Row], videos: dict[str, VideoState | None]) -> None:
        """Add the insert-only rows: each table's rows COPYed straight into it, first
        optimistically, in a savepoint (the first row of each key only, as `ON CONFLICT
        DO NOTHING` keeps): while projecting, a row is almost always new. A row that
        exists (a rendition re-announced under a new event id in a later batch, or by a
        concurrent projector) makes the COPY fail; then the rows go through a staging
        table and `INSERT … ON CONFLICT DO NOTHING`, in batch order."""
        grouped: dict[tuple[str, tuple[str, ...]], list[Row]] = defaultdict(list)
        for row in rows:
            grouped[(row.table, tuple(row.values))].append(row)
        for (table, columns), of_table in grouped.items():
            params = [row_params(row) for row in of_table]
            if table == "packages":
                columns += ("current",)
                for row, values in zip(of_table, params, strict=True):
                    values.append(package_current(row, videos.get(row.values["video_id"])))
            shape = await self._shape(table)
            firsts = first_per_key(params, [columns.index(c) for c in shape.key])
            try:
                async with self.conn.transaction():  # a savepoint
                    await self._copy(table, columns, firsts)
                continue
            except psycopg.errors.UniqueViolation:
                pass
            await self._stage(table, columns, params)
            await self.conn.execute(_insert_staged_sql(table, columns))
            if table == "packages":  # the current package's row may have been there
                await self._set_current_packages(
                    sorted({row.values["video_id"] for row in of_table}), videos)

    async def _shape(self, table: str) -> TableShape:
        shape = self._shapes.get(table)
        if shape is None:
            cur = await self.conn.execute(TABLE_SHAPE, (table,))
            shape = self._shapes[table] = TableShape.of(await cur.fetchall())
        return shape

    async def _stage(self, table: str, columns: Sequence[str],
                     params: Sequence[Sequence[Any]]) -> None:
        """COPY rows into the table's session-private staging twin (emptied at commit)."""
        if not self._staged:
            await self._create_staging()
        staging = _STAGING[table]
        if staging in self._filled:  # a second use in one transaction (dead letters' timeline)
            await self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(staging)))
        self._filled.add(staging)
        await self._copy(staging, columns, params, shape_of=table)

    async def _copy(self, table: str, columns: Sequence[str], params: Sequence[Sequence[Any]],
                    shape_of: str | None = None) -> None:
        """Binary COPY (`copying`); a staging table has the column types of `shape_of`."""
        if not params:
            return
        shape = await self._shape(shape_of or table)
        async with self.conn.cursor() as cur, cur.copy(copy_sql(table, columns)) as copy:
            copy.set_types(shape.oids(columns))
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

    async def _clear_current_packages(self, videos: list[VideoState | None]) -> None:
        """Clear the `current` flag of each package that is no longer its video's current
        one, before the batch's package rows are added with theirs (`package_current`):
        the partial unique index allows one current package per video at every moment."""
        ids, attempts, revisions = _current_packages(videos)
        if ids:
            await self.conn.execute(
                "UPDATE packages p SET current = false"
                " FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS c(video_id, attempt, revision)"
                " WHERE p.video_id = c.video_id AND p.current"
                " AND (p.attempt, p.revision) <> (c.attempt, c.revision)",
                (ids, attempts, revisions))

    async def _set_current_packages(self, video_ids: list[str],
                                    videos: dict[str, VideoState | None]) -> None:
        ids, attempts, revisions = _current_packages([videos.get(v) for v in video_ids])
        if ids:
            await self.conn.execute(
                "UPDATE packages p SET current = true"
                " FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS c(video_id, attempt, revision)"
                " WHERE p.video_id = c.video_id AND p.attempt = c.attempt"
                " AND p.revision = c.revision AND NOT p.current", (ids, attempts, revisions))


def _current_packages(videos: Sequence[VideoState | None]
                      ) -> tuple[list[str], list[int], list[int]]:
    """Video ids, attempts and revisions of the videos' current packages (those that have
    one), as three arrays for `unnest`."""
    current = [(v.video_id, v.current_package_attempt, v.current_package_revision or 1)
               for v in videos if v is not None and v.current_package_attempt is not None]
    return ([c[0] for c in current], [c[1] for c in current],  # type: ignore[misc]
            [c[2] for c in current])
