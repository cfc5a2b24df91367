"""Versioned SQL migrations for a service that owns one Postgres schema.

`NNNN_name.sql` files in a directory are applied in order, all pending ones in one
transaction under an advisory lock (so processes starting at once neither race nor
half-apply); `<schema>.schema_migrations` records which versions are in.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def pending_files(directory: Path) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in version order."""
    found = []
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path.read_text()))
    if len({v for v, _, _ in found}) != len(found):
        raise RuntimeError(f"duplicate migration versions in {directory}")
    return sorted(found)


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big") >> 1


async def migrate(conn: psycopg.AsyncConnection[Any], directory: Path, schema: str) -> list[int]:
    """Create `schema` if needed and apply its pending migrations; returns those applied."""
    table = sql.Identifier(schema, "schema_migrations")
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(schema)))
        await conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())").format(table))
        cur = await conn.execute(sql.SQL("SELECT version FROM {}").format(table))
        done = {row[0] for row in await cur.fetchall()}
        for version, name, text in pending_files(directory):
            if version in done:
                continue
            log.info("applying %s migration %04d_%s", schema, version, name)
            await conn.execute(text.encode())
            await conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)")
                               .format(table), (version, name))
            applied.append(version)
    return applied
