"""Scenario 4, replay: with the catalog stopped, its tables (read models, applied events and
stored offsets) are dropped; started again, it finds no stored offsets, projects every
topic from the earliest offset, and ends with a read model identical, row for row, to the
one it had (the canonical dump of `reelflow catalog rebuild`). Its stored offsets match
too, except on `dead-letter`, which the replay itself appends to."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
import pytest

from services.catalog.rebuild import canonical_dump
from services.shared.group_lag import collect
from services.shared.settings import CommonSettings
from tests.integration.test_projection_crash import _nonzero, log_ends
from tests.polling import wait_until
from tests.reliability.summary import Row, record

pytestmark = pytest.mark.integration

GROUP = "catalog"


def stored_offsets(common: CommonSettings) -> dict[tuple[str, int], int]:
    try:
        with psycopg.connect(common.pg_dsn, connect_timeout=5) as conn:
            rows = conn.execute('SELECT topic, "partition", next_offset FROM consumer_offsets'
                                " WHERE group_id = %s", (GROUP,)).fetchall()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return {}
    return {(t, p): o for t, p, o in rows}


#: The groups that read the scenarios' poison pills where they are written and dead-letter
#: them (the scorer, captions and webhooks may lag for minutes on long jobs of their own).
POISON_READERS = ("transcode", "packager", "ingest")


def others_behind(common: CommonSettings) -> dict[str, int]:
    """Lag of the other live groups that read the poison pills: one of them may still
    dead-letter a record it has not read yet, and that late dead letter would be in the
    replayed model and not in the one taken before."""
    lags = asyncio.run(collect(common.kafka_bootstrap, {}, POISON_READERS))
    return {g.group: g.total for g in lags
            if g.state not in ("Empty", "Dead", "-") and g.total}


#: What the last `caught_up` found still behind, for the timeout's message.
behind: dict[str, object] = {}


def caught_up(common: CommonSettings) -> dict[tuple[str, int], int] | None:
    """The log ends, once the catalog stored them all, every other live group read them
    too, and they stopped moving (a replaying catalog may append dead letters it writes
    again)."""
    ends = _nonzero(log_ends(common))
    stored = stored_offsets(common)
    behind.clear()
    behind["catalog (stored, end)"] = {f"{t}/{p}": (stored.get((t, p)), e)
                                       for (t, p), e in ends.items()
                                       if stored.get((t, p), 0) < e}
    behind["other groups' lag"] = others_behind(common)
    done = not any(behind.values())
    return ends if done and _nonzero(log_ends(common)) == ends else None


def wait_caught_up(common: CommonSettings, what: str, timeout: float) -> None:
    try:
        wait_until(lambda: caught_up(common), what, timeout, every=1)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; still behind: {behind}") from None


def dump(common: CommonSettings) -> bytes:
    async def read() -> bytes:
        async with await psycopg.AsyncConnection.connect(common.pg_dsn) as conn:
            return await canonical_dump(conn)
    return asyncio.run(read())


def drop_catalog_tables(common: CommonSettings) -> list[str]:
    with psycopg.connect(common.pg_dsn, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
        for table in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')  # type: ignore[arg-type]
    return tables


def test_dropping_the_catalog_and_replaying_from_earliest_rebuilds_an_identical_model(
        two_workers: Any, common_settings: CommonSettings) -> None:
    catalog = two_workers.component("catalog")
    wait_caught_up(common_settings, "the catalog caught up", 300)
    catalog.stop()
    before = dump(common_settings)
    events = sum(_nonzero(log_ends(common_settings)).values())
    dropped = drop_catalog_tables(common_settings)
    assert {"videos", "renditions", "packages", "timeline", "consumer_offsets"} <= set(dropped)
    assert stored_offsets(common_settings) == {}

    started = time.monotonic()
    two_workers.up()  # starts the catalog again: migrations, then every topic from earliest
    wait_caught_up(common_settings, "the replay caught up", 900)
    seconds = time.monotonic() - started
    after = dump(common_settings)
    model_before, offsets_before = split_offsets(before)
    model_after, offsets_after = split_offsets(after)
    differ = sorted(set(model_before.splitlines()) ^ set(model_after.splitlines()))
    rows = model_before.count(b"\n") - model_before.count(b"\n--")
    # The replaying catalog dead-letters the undecodable records again: the same event ids,
    # so no new row anywhere, but the dead-letter log (and its stored offset) grew.
    again = {k: offsets_after.get(k, 0) - o for k, o in offsets_before.items()
             if offsets_after.get(k) != o}
    record(Row("replay", events, events if not differ else 0, 0, 0, seconds,
               f"{rows} read-model rows compared, {len(differ)} differ; "
               f"{sum(again.values())} dead letters written again"))

    assert rows > 0
    assert model_before == model_after, f"models differ in {len(differ)} lines: {differ[:5]}"
    assert offsets_after.keys() == offsets_before.keys()
    assert all(topic == "dead-letter" and grew > 0 for (topic, _), grew in again.items()), again


def split_offsets(dump: bytes) -> tuple[bytes, dict[tuple[str, int], int]]:
    """The dump without `consumer_offsets`, and that table as {(topic, partition): offset}."""
    model, _, offsets = dump.partition(b"-- consumer_offsets\n")
    assert b"\n-- " not in offsets, "consumer_offsets is no longer the dump's last table"
    rows = [json.loads(line) for line in offsets.splitlines() if line.startswith(b"[")]
    return model, {(topic, partition): offset for topic, partition, offset in rows}
