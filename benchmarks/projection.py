"""Catalog projection throughput: `python -m benchmarks.projection [--events 200000]`.

Publishes `--events` synthetic but realistic events (`benchmarks.stories`: uploads,
progress, renditions, packages, failures, cancellations, reprocesses, encoded by the
services' `EventCodec`) to the benchmark stack's real Kafka, then runs the real
`Projector` (the catalog's own class, in this process, as `reelflow catalog --role
projector` runs it) from stored offsets at the old log end into a fresh Postgres schema,
until it has applied everything. Prints events/s for decode, the write side (Postgres,
with decode), and end to end (first assignment to caught up, with Kafka fetches), batch
sizes, CPU seconds per process, and the ratio to the issue's 20,000 events/s target.

The limit, measured in the same run: a raw `COPY` of the rows the projector wrote (every
read-model table, as binary COPY out of its schema) into another fresh schema with the
same tables and indexes, i.e. what writing the log's result costs when nothing is
decided, deduplicated or written twice. It prints projector ÷ COPY.

Nothing is asserted: on a shared 2-core machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.catalog_stack import (
    BENCH_ENV,
    ROOT,
    STATE,
    calibration,
    infrastructure,
    run_name,
    use_bench_env,
)
from benchmarks.proctime import tree_cpu_seconds

TARGET = 20_000
#: The tables the limit copies, in the projector's own write order.
LIMIT_TABLES = ("videos", "renditions", "packages", "timeline", "dead_letters")


async def _log_ends(bootstrap: str, topics: tuple[Any, ...]) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.shared.kafka_security import client_options

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_options())
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        return {(tp.topic, tp.partition): o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka #647
            await consumer.stop()


async def _publish(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> float:
    from aiokafka import AIOKafkaProducer

    from services.shared.kafka_security import client_options

    # The services' producer settings (idempotent, acks=all), with lingering for volume.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=20,
                                max_batch_size=256 * 1024, **client_options())
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for topic, key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _projector_class() -> type:
    from services.catalog.projector import Projector

    class TimedProjector(Projector):  # type: ignore[misc]
        """The real projector, with stopwatches around its decode and apply steps."""

        targets: dict[tuple[str, int], int] = {}
        done: asyncio.Event
        assigned_at = 0.0
        caught_up_at = 0.0
        decode_s = 0.0
        apply_s = 0.0
        batches: list[int] = []

        async def seek_to_stored(self, assigned: Any) -> None:
            await super().seek_to_stored(assigned)
            self.assigned_at = self.assigned_at or time.perf_counter()

        def _decode_all(self, records: Any) -> Any:
            started = time.perf_counter()
            items = super()._decode_all(records)
            self.decode_s += time.perf_counter() - started
            return items

        async def _apply(self, records: Any) -> Any:
            started = time.perf_counter()
            outcome = await super()._apply(records)
            self.apply_s += time.perf_counter() - started
            self.batches.append(len(records))
            return outcome

        async def _poll_once(self) -> None:
            await super()._poll_once()
            if all(self.positions.get(k, 0) >= o for k, o in self.targets.items()):
                self.caught_up_at = time.perf_counter()
                self.done.set()

    return TimedProjector


async def _project(dsn: str, group: str, targets: dict[tuple[str, int], int],
                   batch: int, profile: Path | None) -> Any:
    from schemas import PIPELINE_TOPICS
    from services.catalog.settings import CatalogSettings
    from services.shared.codec import EventCodec
    from services.shared.producer import EventProducer

    base = CatalogSettings()
    settings = base.model_copy(update={
        "group_id": group, "batch_max_records": batch,
        "common": base.common.model_copy(update={"pg_dsn": dsn})})
    codec = EventCodec(PIPELINE_TOPICS)
    producer = EventProducer(settings.common.kafka_bootstrap, codec, group)
    await producer.start()
    projector = _projector_class()(settings, codec, producer)
    projector.targets, projector.batches = targets, []
    projector.done = asyncio.Event()
    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    try:
        await asyncio.wait_for(projector.run(projector.done), timeout=1800)
    finally:
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        await producer.stop()
    projector.cpu_s = time.process_time() - cpu
    return projector


async def bench(events: int, batch: int, profile: Path | None, processes: list[int],
                against: Path | None) -> None:
    import psycopg

    from benchmarks.stories import events_per_video, interleaved
    from schemas import PIPELINE_TOPICS, topic_by_name
    from services.shared.codec import EventCodec
    from services.shared.settings import CommonSettings
    from services.stack import LocalStack, StackSettings

    common = CommonSettings()
    run = run_name()
    codec = EventCodec(PIPELINE_TOPICS)
    videos = math.ceil(events / events_per_video()) + 64
    steps = list(itertools.islice(interleaved(videos), events))
    started = time.perf_counter()
    records = [(topic, event.video_id.encode(), codec.encode(topic_by_name(topic), event))
               for topic, event in steps]
    encode_s = time.perf_counter() - started
    by_topic: dict[str, int] = {}
    for topic, _ in steps:
        by_topic[topic] = by_topic.get(topic, 0) + 1
    mean_bytes = statistics.fmean(len(v) for _, _, v in records)
    print(f"{len(records):,} events of {len({e.video_id for _, e in steps}):,} videos, "
          f"{mean_bytes:.0f} bytes each on average; by topic: "
          + ", ".join(f"{t} {n:,}" for t, n in sorted(by_topic.items())))
    print(f"encode (EventCodec): {len(records) / encode_s:,.0f} events/s")

    before = await _log_ends(common.kafka_bootstrap, PIPELINE_TOPICS)
    publish_s = await _publish(common.kafka_bootstrap, records)
    after = await _log_ends(common.kafka_bootstrap, PIPELINE_TOPICS)
    print(f"publish (aiokafka, acks=all, idempotent): {len(records) / publish_s:,.0f} events/s")
    targets = {k: o for k, o in after.items() if o > before.get(k, 0)}

    dsn = await asyncio.to_thread(_fresh_schema, common.pg_dsn, run, before)
    try:
        values = [v for _, _, v in records]
        topics = [topic_by_name(t) for t, _, _ in records]
        started = time.perf_counter()
        for of_topic, value in zip(topics, values, strict=True):
            codec.decode(of_topic, value)
        decode_alone_s = time.perf_counter() - started

        stack = LocalStack(StackSettings())
        pg_pid, kafka_pid = stack.postgres.process.pid, stack.kafka.process.pid
        pg_cpu, kafka_cpu = tree_cpu_seconds(pg_pid), tree_cpu_seconds(kafka_pid)
        load = os.getloadavg()[0]
        p = await _project(dsn, run, targets, batch, profile)
        pg_cpu = tree_cpu_seconds(pg_pid) - pg_cpu
        kafka_cpu = tree_cpu_seconds(kafka_pid) - kafka_cpu
        end_to_end_s = p.caught_up_at - p.assigned_at
        n = len(records)
        print(f"\nprojected {n:,} events in {len(p.batches)} batches "
              f"(max_records {batch}; sizes median {statistics.median(p.batches):,.0f}, "
              f"min {min(p.batches):,}, max {max(p.batches):,})")
        rows = [
            ("decode alone (EventCodec.decode, in memory)", n / decode_alone_s),
            ("decode inside the projector", n / p.decode_s),
            ("write side: apply batches incl. decode (Postgres)", n / p.apply_s),
            ("end to end: Kafka -> Postgres, assignment to caught up", n / end_to_end_s),
        ]
        print(f"{'':58} {'events/s':>10} {'/ 20k target':>13}")
        for label, rate in rows:
            print(f"{label:58} {rate:>10,.0f} {rate / TARGET:>13.2f}")
        print(f"\nend to end {end_to_end_s:.1f} s, of which applying batches "
              f"{p.apply_s:.1f} s (decode {p.decode_s:.1f} s)")
        print(f"CPU calibration: a 5M-step Python loop took {calibration():.2f} CPU-s here")
        print(f"CPU seconds while projecting: projector {p.cpu_s:.1f}, Postgres {pg_cpu:.1f}, "
              f"Kafka {kafka_cpu:.1f}; load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs; "
              f"{(p.cpu_s + pg_cpu + kafka_cpu) * 1e6 / n:.0f} CPU-µs per event in all")
        with psycopg.connect(dsn) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM videos), (SELECT count(*) FROM timeline),"
                " (SELECT count(*) FROM applied_events)").fetchone()
            writes = conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                " WHERE schemaname = %s AND n_tup_ins + n_tup_upd > 0 ORDER BY relname",
                (run,)).fetchall()
        assert counts is not None
        print(f"read model: {counts[0]:,} videos, {counts[1]:,} timeline rows, "
              f"{counts[2]:,} applied_events rows")
        # Row versions written per event: an UPDATE that is not HOT inserts into every
        # index of its table, so these say where Postgres' CPU per event goes.
        print("row versions written per 1,000 events (inserted / updated, of which HOT): "
              + ", ".join(f"{t} {i * 1000 / n:.0f} / {u * 1000 / n:.0f} ({h * 1000 / n:.0f})"
                          for t, i, u, h in writes))
        copy_s, copy_pg_cpu = await asyncio.to_thread(_copy_limit, common.pg_dsn, dsn,
                                                      f"{run}_copy", pg_pid)
        copy_rate, projector_rate = n / copy_s, n / end_to_end_s
        print(f"\nlimit: raw binary COPY of the projected rows into the same tables and "
              f"indexes (fresh schema): {copy_s:.2f} s, {copy_rate:,.0f} events/s, Postgres "
              f"{copy_pg_cpu * 1e6 / n:.0f} CPU-µs per event")
        print(f"projector ÷ COPY (end to end, one projector): {projector_rate / copy_rate:.2f}")
        if profile:
            print(f"cProfile of the projection phase: {profile}")
        # Each count of processes; with --against, that tree's processes first, then ours,
        # back to back. In a thread: it blocks, and sets up its schema with its own loop.
        for count in processes:
            for tree in ([against] if against else []) + [ROOT]:
                name = f"{run}_x{count}{'' if tree == ROOT else '_against'}"
                await asyncio.to_thread(_scaled_out, common.pg_dsn, name, before, targets,
                                        count, batch, dsn, copy_rate, tree)
    finally:
        _drop_schema(common.pg_dsn, run)


async def _dump_digest(dsn: str) -> str:
    import hashlib

    import psycopg

    from services.catalog.rebuild import canonical_dump

    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        dump = await canonical_dump(conn)
    return hashlib.sha256(dump).hexdigest()


#: Migrates the schema its DSN (argv[1]) names with the catalog migrations of the tree it
#: runs in (`python -c` puts the working directory first on the path).
_MIGRATE = ("import asyncio, sys, psycopg\n"
            "from services.catalog.schema import migrate\n"
            "async def main():\n"
            "    async with await psycopg.AsyncConnection.connect(sys.argv[1]) as conn:\n"
            "        await migrate(conn)\n"
            "asyncio.run(main())\n")


def _fresh_schema(pg_dsn: str, name: str, before: dict[tuple[str, int], int],
                  tree: Path = ROOT) -> str:
    """A schema migrated by `tree`'s migrations whose stored offsets (group `name`) are the
    log ends before publishing: a projector reads exactly this run's events, from
    Postgres-stored offsets as it always does. Returns its DSN."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from services.catalog.schema import migrate

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    dsn = make_conninfo(pg_dsn, options=f"-c search_path={name}")

    async def prepare() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await migrate(conn)
    if tree == ROOT:
        asyncio.run(prepare())
    else:
        subprocess.run([sys.executable, "-c", _MIGRATE, dsn], cwd=tree, check=True)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany('INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
                        " VALUES (%s, %s, %s, %s)",
                        [(name, t, p, o) for (t, p), o in before.items()])
    return dsn


def _copy_limit(pg_dsn: str, source_dsn: str, name: str,
                pg_pid: int | None) -> tuple[float, float]:
    """Seconds (and Postgres CPU-seconds) to COPY the projected rows into a fresh schema
    with the same tables and indexes; the rows are read out of `source_dsn` first."""
    import psycopg
    from psycopg import sql

    tables: dict[str, list[bytes]] = {}
    with psycopg.connect(source_dsn) as conn, conn.cursor() as cur:
        for table in LIMIT_TABLES:
            with cur.copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(
                    sql.Identifier(table))) as copy:
                tables[table] = [bytes(chunk) for chunk in copy]
    dsn = _fresh_schema(pg_dsn, name, {})
    try:
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cpu = tree_cpu_seconds(pg_pid)
            started = time.perf_counter()
            with conn.transaction():
                for table, chunks in tables.items():
                    with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(
                            sql.Identifier(table))) as copy:
                        for chunk in chunks:
                            copy.write(chunk)
            return time.perf_counter() - started, tree_cpu_seconds(pg_pid) - cpu
    finally:
        _drop_schema(pg_dsn, name)


def _drop_schema(pg_dsn: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _scaled_out(pg_dsn: str, name: str, before: dict[tuple[str, int], int],
                targets: dict[tuple[str, int], int], processes: int, batch: int,
                single_dsn: str, copy_rate: float, tree: Path = ROOT) -> None:
    """The same events again, into another fresh schema, by `processes` real
    `reelflow catalog --role projector` processes of `tree` in one consumer group (the way
    the projector scales out: partitions split between them), timed by their stored
    offsets. Also timed between 10 % and 90 % of the events applied: the steady middle,
    without the group's join and the last partition's tail."""
    import psycopg

    dsn = _fresh_schema(pg_dsn, name, before, tree)
    n = sum(o - before.get(k, 0) for k, o in targets.items())
    procs: list[subprocess.Popen[bytes]] = []
    log = STATE / "logs" / f"{name}.log"
    try:
        env = {**os.environ, "REELFLOW_PG_DSN": dsn, "REELFLOW_CATALOG_GROUP_ID": name,
               "REELFLOW_CATALOG_BATCH_MAX_RECORDS": str(batch),
               "REELFLOW_CATALOG_LAG_REFRESH_S": "0"}
        started = time.perf_counter()
        base_port = int(BENCH_ENV["REELFLOW_CATALOG_PORT"])
        with log.open("ab") as out:
            for i in range(processes):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "catalog", "--role", "projector"],
                    env={**env, "REELFLOW_CATALOG_PORT": str(base_port + 10 + i)}, stdout=out,
                    stderr=subprocess.STDOUT, cwd=tree, start_new_session=True))
        first_move = None
        first_applied = 0  # events the first batch(es) committed: done before the clock ran
        progress: list[tuple[float, int]] = []  # (time, events applied) per poll
        pg_pid, kafka_pid = _stack_pids()
        cpu = pg_cpu = kafka_cpu = 0.0
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                stored = dict(((t, p), o) for t, p, o in conn.execute(
                    'SELECT topic, "partition", next_offset FROM consumer_offsets').fetchall())
                if first_move is None and any(stored[k] > o for k, o in before.items()):
                    first_move = time.perf_counter()
                    cpu = sum(tree_cpu_seconds(p.pid) for p in procs)
                    pg_cpu = tree_cpu_seconds(pg_pid)
                    kafka_cpu = tree_cpu_seconds(kafka_pid)
                progress.append((time.perf_counter(), sum(
                    min(stored.get(k, 0), o) - before.get(k, 0) for k, o in targets.items())))
                if first_move is not None and not first_applied:
                    first_applied = progress[-1][1]
                if all(stored.get(k, 0) >= o for k, o in targets.items()):
                    break
                if (any(p.poll() is not None for p in procs)
                        or time.perf_counter() - started > 1800):
                    raise SystemExit(f"projector processes failed or timed out; see {log}")
                time.sleep(0.1)
        done = time.perf_counter()
        # From the first batch committed (one batch's worth early): the projectors' and
        # Postgres' CPU, and the projectors' peak RSS (held records, the video cache).
        cpu = sum(tree_cpu_seconds(p.pid) for p in procs) - cpu
        pg_cpu = tree_cpu_seconds(pg_pid) - pg_cpu
        kafka_cpu = tree_cpu_seconds(kafka_pid) - kafka_cpu
        peak_mb = [_peak_rss_mb(p.pid) for p in procs]
        assert first_move is not None
        # Timed (and CPU counted) from the first commit, so the events that commit applied
        # are not counted either: with n / time a bigger batch looked faster by a batch's
        # worth of events it was never timed for (20,000-record batches: up to a fifth of
        # this run). The CPU per event divides the same way (the other projector's first
        # batch, in flight at that moment, is counted whole: a slight overestimate).
        timed = n - first_applied
        rate = timed / (done - first_move)
        low = next(p for p in progress if p[1] >= n // 10)
        high = next(p for p in progress if p[1] >= n - n // 10)
        middle = (high[1] - low[1]) / max(high[0] - low[0], 1e-9)
        which = "" if tree == ROOT else f" from --against {tree}"
        print(f"\nscaled out: {processes} `reelflow catalog --role projector` processes{which},"
              f" one group (range assignment), max_records {batch}")
        print(f"{'end to end: first batch committed to caught up':58} {rate:>10,.0f} "
              f"{rate / TARGET:>13.2f}")
        print(f"{'  the middle: 10 % to 90 % of the events applied':58} {middle:>10,.0f} "
              f"{middle / TARGET:>13.2f}")
        print(f"{processes} projectors ÷ COPY: {rate / copy_rate:.2f}")
        print(f"({timed:,} events in {done - first_move:.1f} s, the first commit's "
              f"{first_applied:,} not timed; {done - started:.1f} s for all {n:,} including "
              f"process start and group join; load average {os.getloadavg()[0]:.1f})")
        print(f"CPU seconds from the first batch: projectors {cpu:.1f}, Postgres "
              f"{pg_cpu:.1f}, Kafka {kafka_cpu:.1f}; per event timed: projectors "
              f"{cpu * 1e6 / timed:.0f}, Postgres {pg_cpu * 1e6 / timed:.0f}, "
              f"{(cpu + pg_cpu) * 1e6 / timed:.0f} CPU-µs the two; peak RSS per "
              f"projector: {', '.join(f'{mb:.0f}' for mb in peak_mb)} MB")
        same = asyncio.run(_dump_digest(dsn)) == asyncio.run(_dump_digest(single_dsn))
        print(f"read model equal to the single projector's (canonical dump, as "
              f"`catalog rebuild` compares): {'yes' if same else 'NO'}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        _drop_schema(pg_dsn, name)


def _stack_pids() -> tuple[int | None, int | None]:
    """The benchmark stack's Postgres and Kafka processes."""
    from services.stack import LocalStack, StackSettings

    stack = LocalStack(StackSettings())
    return stack.postgres.process.pid, stack.kafka.process.pid


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projection", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events to publish")
    parser.add_argument("--batch", type=int, default=None,
                        help="max records per batch (default: the catalog's setting)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the projection here")
    parser.add_argument("--projectors", default="2",
                        help="projector processes for the scaled-out run; a comma-separated "
                             "list runs each count in turn (0: skip it)")
    parser.add_argument("--against", type=Path, metavar="TREE",
                        help="an earlier source tree: its projector processes (and its "
                             "migrations) run each scaled-out count too, just before ours")
    args = parser.parse_args(argv)
    processes = [int(c) for c in args.projectors.split(",") if int(c) > 0]
    use_bench_env()
    from services.catalog.settings import CatalogSettings

    batch = args.batch or CatalogSettings().batch_max_records
    with infrastructure():
        asyncio.run(bench(args.events, batch, args.profile, processes,
                          args.against.resolve() if args.against else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
