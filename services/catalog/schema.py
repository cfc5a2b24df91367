"""The catalog's read-model schema: the `migrations/NNNN_name.sql` files of this package,
applied by the shared runner to whatever schema the connection's `search_path` names (the
live one, or the fresh one `catalog rebuild` fills before swapping it in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from services.shared import migrations

MIGRATION_DIR = Path(__file__).resolve().parent / "migrations"


async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply every pending catalog migration; returns the versions applied now."""
    return await migrations.migrate(conn, MIGRATION_DIR)
