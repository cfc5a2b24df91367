"""Versioned SQL migrations, the one runner every service with Postgres state uses.

`NNNN_name.sql` files in a directory are applied in order, all pending ones in one
transaction under an advisory lock per schema (so processes starting at once neither race
nor half-apply); `schema_migrations` in that schema records which versions are in.

Which schema: a service that owns a named schema (ingest) passes it, and it is created if
needed. Without one, the runner follows the connection's `search_path`, and the files use
unqualified names: that is how `catalog rebuild` migrates a fresh schema before swapping it
in, with the same files.
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


async def _current_schema(conn: psycopg.AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT current_schema()")
    row = await cur.fetchone()
    if not row or not row[0]:
        raise RuntimeError("no current schema: does the DSN's search_path exist?")
    return str(row[0])


async def migrate(conn: psycopg.AsyncConnection[Any], directory: Path,
                  schema: str | None = None) -> list[int]:
    """Apply the pending migrations of `directory` to `schema` (created if needed), or to
    the connection's current schema when None; returns the versions applied now."""
    applied: list[int] = []
    async with conn.transaction():
        target = schema if schema is not None else await _current_schema(conn)
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(target),))
        if schema is not None:
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(schema)))
        table = sql.Identifier(target, "schema_migrations")
        await conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())").format(table))
        cur = await conn.execute(sql.SQL("SELECT version FROM {}").format(table))
        done = {row[0] for row in await cur.fetchall()}
        for version, name, text in pending_files(directory):
            if version in done:
                continue
            log.info("applying %s migration %04d_%s", target, version, name)
            await conn.execute(text.encode())  # file text, not a LiteralString
            await conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)")
                               .format(table), (version, name))
            applied.append(version)
    return applied
