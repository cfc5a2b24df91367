"""`reelflow catalog rebuild`: project the whole log into fresh tables, then switch to them.

Why: replaying offsets (`reelflow replay`) cannot rebuild the read models, because
`applied_events` turns every event already applied into a no-op. A rebuild instead applies
the log from the start into a new schema `rebuild_<utc time>`, with the projection code of
today, while the API keeps serving the current tables.

The switch is one transaction on the live database:

1. take ACCESS EXCLUSIVE locks on the live read-model tables: the live projector's next
   batch (its first statement touches `consumer_offsets`) and API reads wait, and a batch
   already running finishes first, so every batch lands wholly in one model or the other;
2. read the live projector's stored offsets and let the rebuild apply the log at least that
   far (a few records at most: it caught up before the locks were taken);
3. rename the live schema to `retired_<utc time>` and the rebuilt one to the live name, and
   drop the retired one (`--keep-old` keeps it). Dropping, or altering, the old tables is
   also what invalidates the plans of statements the projector and the API prepared
   against them; their blocked statements then resolve the names again, in the new schema.

The rebuilt tables hold the live group's offsets (at or past the live projector's), so the
projector goes on where it was: records it fetches below them are skipped as stale.
The rebuild reads every partition by manual assignment (no consumer group, so the live
group never rebalances) and emits nothing: dead letters the live catalog wrote are already
on the `dead-letter` topic, and the rebuild projects them from there.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql
from psycopg.conninfo import make_conninfo

from schemas import ALL_TOPICS, PIPELINE_TOPICS
from services.catalog import offsets
from services.catalog.projector import Projector
from services.catalog.schema import migrate
from services.catalog.settings import CatalogSettings
from services.catalog.store import PartitionKey
from services.shared import telemetry
from services.shared.codec import EventCodec
from services.shared.consumers import new_consumer, stop_quietly

log = logging.getLogger(__name__)

#: The read-model tables, and per table the columns a canonical dump leaves out because
#: they record when this database did something, not what the log says.
READ_MODEL: dict[str, tuple[str, ...]] = {
    "videos": (),
    "renditions": (),
    "rendition_scores": (),
    "packages": (),
    "timeline": ("recorded_at",),
    "dead_letters": ("recorded_at",),
    "applied_events": ("applied_at",),
    "consumer_offsets": ("group_id", "updated_at"),
}


class RebuildProjector(Projector):
    """The projector, reading every partition without a consumer group and emitting
    nothing, into whatever schema its settings' DSN points at."""

    def __init__(self, settings: CatalogSettings, codec: EventCodec) -> None:
        super().__init__(settings, codec, producer=None)  # type: ignore[arg-type]

    def _new_consumer(self) -> AIOKafkaConsumer:
        # No group: joining the live group would take partitions from the live projector.
        return new_consumer(self.settings.common.kafka_bootstrap, auto_offset_reset="none")

    async def open(self) -> None:
        await self._connect()
        await self.consumer.start()
        tps = [TopicPartition(t.name, p) for t in PIPELINE_TOPICS for p in range(t.partitions)]
        self.consumer.assign(tps)
        await self.seek_to_stored(tps)

    async def close(self) -> None:
        await stop_quietly(self.consumer)
        if self._conn is not None:
            await self._conn.close()

    async def catch_up(self, targets: dict[PartitionKey, int], timeout_s: float) -> None:
        """Apply until every partition's stored offset reaches its target."""
        deadline = time.monotonic() + timeout_s
        while True:
            behind = {k: t for k, t in targets.items() if self._position(k) < t}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"rebuild still behind after {timeout_s:.0f} s: {behind}")
            await self._poll_once()

    def _position(self, key: PartitionKey) -> int:
        return self.positions.get(key, 0)  # nothing applied there yet

    async def _dead_letter(self, items: Sequence[Any]) -> None:
        """Already dead-lettered by the live catalog; the rebuild reads them back."""

    async def _commit_to_kafka(self, next_offsets: dict[PartitionKey, int]) -> None:
        """No group to commit for."""


async def _log_ends(rp: RebuildProjector) -> dict[PartitionKey, int]:
    tps = list(rp.consumer.assignment())
    return {(tp.topic, tp.partition): o for tp, o in (await rp.consumer.end_offsets(tps)).items()}


async def _starts(rp: RebuildProjector) -> dict[PartitionKey, int]:
    tps = list(rp.consumer.assignment())
    return {(tp.topic, tp.partition): o
            for tp, o in (await rp.consumer.beginning_offsets(tps)).items()}


async def rebuild(settings: CatalogSettings, keep_old: bool = False,
                  timeout_s: float = 3600.0) -> str:
    """Rebuild and switch; returns the name of the schema now serving."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    fresh, retired = f"rebuild_{stamp}", f"retired_{stamp}"
    live_dsn = settings.common.pg_dsn
    async with await psycopg.AsyncConnection.connect(live_dsn, autocommit=True) as conn:
        cur = await conn.execute("SELECT current_schema()")
        row = await cur.fetchone()
        live = row[0] if row else None
        if not live:
            raise RuntimeError("no current schema: does the DSN's search_path exist?")
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(fresh)))
    fresh_dsn = make_conninfo(live_dsn, options=f"-c search_path={fresh}")
    async with await psycopg.AsyncConnection.connect(fresh_dsn) as conn:
        await migrate(conn)
    log.info("rebuilding %s into %s", live, fresh)
    rp = RebuildProjector(settings.model_copy(update={
        "common": settings.common.model_copy(update={"pg_dsn": fresh_dsn})}), EventCodec(
        ALL_TOPICS))
    started = time.monotonic()
    try:
        await rp.open()
        starts = await _starts(rp)
        # Empty partitions and those retention emptied need nothing; the rest up to now.
        ends = {k: e for k, e in (await _log_ends(rp)).items() if e > starts[k]}
        await rp.catch_up(ends, timeout_s)
        log.info("rebuild caught up with the log in %.1f s; switching",
                 time.monotonic() - started)
        await _switch(live_dsn, live, fresh, retired, settings.group_id, rp, keep_old)
    except BaseException:
        async with await psycopg.AsyncConnection.connect(live_dsn, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(fresh)))
        raise
    finally:
        await rp.close()
    log.info("catalog rebuilt in %.1f s; %s now serves the rebuilt tables",
             time.monotonic() - started, live)
    return live


async def _switch(live_dsn: str, live: str, fresh: str, retired: str, group: str,
                  rp: RebuildProjector, keep_old: bool) -> None:
    async with await psycopg.AsyncConnection.connect(live_dsn) as conn, conn.transaction():
        # Never queue forever behind something unexpected; the rebuild can be run again.
        await conn.execute("SET LOCAL lock_timeout = '30s'")
        await conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(live, t) for t in READ_MODEL)))
        live_offsets = await offsets.stored_offsets(conn, group, schema=live)
        await rp.catch_up({k: o for k, o in live_offsets.items() if o > 0}, 120)
        await conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(live), sql.Identifier(retired)))
        await conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(fresh), sql.Identifier(live)))
        if keep_old:
            for table in READ_MODEL:  # a relcache invalidation, so cached plans re-resolve
                await conn.execute(sql.SQL("ALTER TABLE {} SET (fillfactor = 100)").format(
                    sql.Identifier(retired, table)))
        else:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
                sql.Identifier(retired)))
    log.info("switched: %s serves the rebuilt tables%s", live,
             f"; the old ones are in {retired}" if keep_old else "")


async def canonical_dump(conn: psycopg.AsyncConnection[Any]) -> bytes:
    """Every read-model row as JSON text, sorted per table: two models hold the same facts
    exactly when their dumps are equal byte for byte."""
    out: list[bytes] = []
    for table, skipped in READ_MODEL.items():
        cur = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position", (table,))
        columns = [r[0] for r in await cur.fetchall() if r[0] not in skipped]
        query = sql.SQL("SELECT json_build_array({})::text AS line FROM {} ORDER BY line").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table))
        cur = await conn.execute(query)
        out.append(f"-- {table}\n".encode())
        out.extend(row[0].encode() + b"\n" for row in await cur.fetchall())
    return b"".join(out)


def _main(args: argparse.Namespace) -> int:
    settings = CatalogSettings()
    telemetry.configure("catalog-rebuild", settings.common.log_level,
                        settings.common.otel_exporter)
    schema = asyncio.run(rebuild(settings, keep_old=args.keep_old))
    print(f"catalog rebuilt from the log; schema {schema!r} now holds the rebuilt read models")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "rebuild", help="project the whole log into fresh tables, then switch to them",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-old", action="store_true",
                        help="keep the replaced tables in schema retired_<time>")
    parser.set_defaults(func=_main)
