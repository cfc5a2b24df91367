"""A catalog read model of N videos for the API benchmark, loaded the fast way.

Each video's events (`benchmarks.stories`) are folded in memory by the catalog's own pure
projection (`project_event`), and the resulting `videos`, `renditions` and `packages` rows
are written with COPY straight into the read-model tables, as the projector's store would
write them, without going through Kafka. The timeline is left empty: no benchmarked
endpoint reads it, and it would be 14 rows per video.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.stories import Step, story_steps
from services.catalog.copying import TABLE_SHAPE, TableShape, copy_sql, use_row_dumpers
from services.catalog.projection import VideoState, project_event
from services.catalog.rows import Position
from services.catalog.store import VIDEO_COLUMNS, package_current, row_params, video_params

CHUNK = 2000


Rows = dict[str, tuple[tuple[str, ...], list[list[Any]]]]


def fold(steps: list[Step], into: Rows) -> VideoState:
    """One video's row; its insert-only rows (renditions, packages) are added to `into`
    as COPY values, under their table with their column names."""
    state: VideoState | None = None
    for offset, (topic, event) in enumerate(steps):
        projection = project_event(state, topic, event, Position(topic, 0, offset))
        state = projection.video
        for row in projection.rows:
            if row.table in ("renditions", "packages"):
                columns, values = tuple(row.values), row_params(row)
                if row.table == "packages":  # the store's `current` flag, decided alike
                    columns += ("current",)
                    values.append(package_current(row, projection.video))
                into.setdefault(row.table, (columns, []))[1].append(values)
    assert state is not None
    return state


def load(dsn: str, videos: int, seed: int = 7) -> float:
    """Write `videos` videos into the (empty) read model at `dsn`; returns seconds taken."""
    rng = random.Random(seed)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20 * videos)
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        use_row_dumpers(conn)  # binary COPY, as the projector's store writes
        shapes = {table: TableShape.of(conn.execute(TABLE_SHAPE, (table,)).fetchall())
                  for table in ("videos", "renditions", "packages")}
        for first in range(0, videos, CHUNK):
            rows: Rows = {}
            states = [fold(story_steps(rng, t0 + timedelta(seconds=20 * i), i % 20), rows)
                      for i in range(first, min(videos, first + CHUNK))]
            with conn.cursor() as cur:
                with cur.copy(copy_sql("videos", VIDEO_COLUMNS)) as copy:
                    copy.set_types(shapes["videos"].oids(VIDEO_COLUMNS))
                    for state in states:
                        copy.write_row(video_params(state))
                for table, (columns, values) in rows.items():
                    with cur.copy(copy_sql(table, columns)) as copy:
                        copy.set_types(shapes[table].oids(columns))
                        for row in values:
                            copy.write_row(row)
            conn.commit()
    # Vacuumed and analysed, as autovacuum would leave a steady catalog: fresh statistics,
    # and GIN pending lists (filled by the bulk load) merged into the indexes.
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("videos", "renditions", "packages"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    return time.perf_counter() - started
