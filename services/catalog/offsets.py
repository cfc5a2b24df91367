"""The catalog's `consumer_offsets` table: the only module with SQL on it.

The projector stores its offsets there, in the transaction that applies a batch; the
rebuild reads the live group's offsets to know how far to catch up; the operator tools
read every group's (`reelflow lag`) and rewrite a stopped group's (`reelflow replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]
GroupOffsets = dict[PartitionKey, int]


async def stored_offsets(conn: psycopg.AsyncConnection[Any], group: str,
                         schema: str | None = None) -> GroupOffsets:
    """Next offset to read per partition of `group` (in `schema`, default: search_path)."""
    table = sql.Identifier(schema, "consumer_offsets") if schema else sql.Identifier(
        "consumer_offsets")
    cur = await conn.execute(sql.SQL('SELECT topic, "partition", next_offset FROM {}'
                                     " WHERE group_id = %s").format(table), (group,))
    return {(t, p): o for t, p, o in await cur.fetchall()}


async def every_group(conn: psycopg.AsyncConnection[Any]) -> dict[str, GroupOffsets]:
    """Stored offsets of every group; raises UndefinedTable when the catalog never ran."""
    cur = await conn.execute('SELECT group_id, topic, "partition", next_offset'
                             " FROM consumer_offsets")
    found: dict[str, GroupOffsets] = {}
    for group, topic, partition, offset in await cur.fetchall():
        found.setdefault(group, {})[(topic, partition)] = offset
    return found


async def lock(conn: psycopg.AsyncConnection[Any], group: str,
               keys: Sequence[PartitionKey]) -> GroupOffsets:
    """Create missing rows at 0, then lock the rows of `keys` (in sorted order, so two
    projectors sharing a database cannot deadlock) and return their offsets."""
    topics, partitions = [k[0] for k in keys], [k[1] for k in keys]
    await conn.execute(
        'INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
        " SELECT %s, t, p, 0 FROM unnest(%s::text[], %s::int[]) AS k(t, p)"
        " ON CONFLICT DO NOTHING", (group, topics, partitions))
    cur = await conn.execute(
        'SELECT o.topic, o."partition", o.next_offset FROM consumer_offsets o'
        ' JOIN unnest(%s::text[], %s::int[]) AS k(t, p)'
        ' ON o.topic = k.t AND o."partition" = k.p'
        ' WHERE o.group_id = %s ORDER BY o.topic, o."partition" FOR UPDATE OF o',
        (topics, partitions, group))
    return {(t, p): o for t, p, o in await cur.fetchall()}


async def advance(conn: psycopg.AsyncConnection[Any], group: str,
                  next_offsets: Mapping[PartitionKey, int]) -> None:
    """Move offsets forward (never back: a stale batch cannot undo a newer one)."""
    if not next_offsets:
        return
    keys = sorted(next_offsets)
    await conn.execute(
        "UPDATE consumer_offsets o SET next_offset = greatest(o.next_offset, k.n),"
        " updated_at = now() FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS k(t, p, n)"
        ' WHERE o.group_id = %s AND o.topic = k.t AND o."partition" = k.p',
        ([k[0] for k in keys], [k[1] for k in keys], [next_offsets[k] for k in keys], group))


async def rewind(conn: psycopg.AsyncConnection[Any], group: str, key: PartitionKey,
                 next_offset: int) -> None:
    """Move one partition's offset back (only for a topic that was recreated)."""
    await conn.execute(
        "UPDATE consumer_offsets SET next_offset = %s, updated_at = now()"
        ' WHERE group_id = %s AND topic = %s AND "partition" = %s',
        (next_offset, group, key[0], key[1]))


async def overwrite(conn: psycopg.AsyncConnection[Any], group: str,
                    offsets: Mapping[PartitionKey, int]) -> None:
    """Set offsets to exactly these values, back or forward (a replay of a stopped group)."""
    for (topic, partition), offset in offsets.items():
        await conn.execute(
            'INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
            " VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, \"partition\")"
            " DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()",
            (group, topic, partition, offset))


async def every_group_at(dsn: str) -> dict[str, GroupOffsets]:
    """Every group's stored offsets; empty when the catalog's tables are not there (the
    catalog never ran against this database)."""
    try:
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as conn:
            return await every_group(conn)
    except psycopg.errors.UndefinedTable:
        return {}


async def every_group_or_nothing(dsn: str) -> dict[str, GroupOffsets]:
    """`every_group_at`, or nothing (with a warning) while Postgres is unreachable: lag
    tooling then still shows every Kafka group."""
    try:
        return await every_group_at(dsn)
    except psycopg.OperationalError as exc:
        log.warning("Postgres unreachable, catalog offsets not read: %s", exc)
        return {}
