"""Catalog API latency: `python -m benchmarks.api [--videos 100000]`.

Loads `--videos` videos into a fresh read model (`benchmarks.read_model`: the catalog's
own projection rules, rows written with COPY, not through Kafka), starts the catalog API
the way the service runs it (`reelflow catalog --role api`, `--processes` of them on one
port with `REELFLOW_CATALOG_REUSE_PORT`), and beside it the limit
(`benchmarks.api_limit`: a framework-free ASGI app on the same uvicorn, httptools and
uvloop running the same SELECTs in one pipeline, as many processes), on the same read
model in the same run. wrk, an out-of-process load generator, sends the admin's
`X-API-Key`:

- `GET /api/v1/videos/{id}` for random ids, unpaced, on the catalog and on the limit one
  after the other: req/s and CPU per request of each, and catalog ÷ limit;
- the same paced at `--rate` (1,000/s) and at `--light-rate`;
- listings with filters (status, tag, metadata key, text search, sorts), each paced at
  `--list-rate` (200/s);
- the detail paced at `--stream-detail-rate`, idle and then while a real projector
  (`reelflow catalog --role projector`, into this read model) applies a steady stream of
  `--stream-rate` events/s published to Kafka meanwhile: stream p99 ÷ idle p99.

Prints achieved req/s and p50/p90/p99 latency next to the issue's targets (detail p99 <
20 ms at 1,000 req/s; listing p99 < 50 ms at 200 req/s; throughput ≥ 0.8 of the limit;
p99 under the stream ≤ 1.5× idle). Nothing is asserted: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
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

LUA = Path(__file__).resolve().parent / "paced.lua"
#: (label, query string) of the listings measured; every one also sorts and pages.
LISTINGS = (
    ("newest first (no filter)", "limit=50"),
    ("status=ready", "status=ready&limit=50"),
    ("status=failed, by priority", "status=failed&sort=priority&limit=50"),
    ("tag=music", "tag=music&limit=50"),
    ("meta.category=food", "meta.category=food&limit=50"),
    ("two tags + meta.year", "tag=travel&tag=news&meta.year=2020&limit=50"),
    ("text search q=harbour", "q=harbour&limit=50"),
    ("q=night storm, completed_at asc", "q=night%20storm&sort=completed_at&order=asc&limit=50"),
    ("completed_at desc", "sort=completed_at&order=desc&limit=50"),
)


async def _migrate(dsn: str) -> None:
    import psycopg

    from services.catalog.schema import migrate

    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await migrate(conn)


def _cpu(pids: list[int]) -> float:
    return sum(tree_cpu_seconds(pid) for pid in pids)


def _machine() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _wrk(url: str, paths: list[str], rate: int, seconds: int, connections: int,
         key: str, server_pids: list[int]) -> dict[str, Any]:
    """One wrk run's figures; also where the machine's CPU went meanwhile (`cores`: the
    servers', Postgres', wrk's own, the rest of the machine's and steal, each in cores)
    and each server process' share of the servers' CPU (`split`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as f:
        f.write("\n".join(paths) + "\n")
    postgres = _postgres_pid()
    each = [tree_cpu_seconds(pid) for pid in server_pids]
    pg, (busy, steal) = tree_cpu_seconds(postgres), _machine()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        env = {**os.environ, "WRK_PATHS": f.name, "WRK_RATE": str(rate), "WRK_THREADS": "1"}
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "-s", str(LUA), "-H", f"X-API-Key: {key}", url],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        os.unlink(f.name)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk: the only child reaped
    spent = [tree_cpu_seconds(pid) - before for pid, before in zip(server_pids, each, strict=True)]
    busy_after, steal_after = _machine()
    line = [s for s in done.stdout.splitlines() if s.startswith("{")][-1]
    found: dict[str, Any] = json.loads(line)
    found["rate"] = found["requests"] / (found["duration_us"] / 1e6)
    found["cpu_ms"] = sum(spent) * 1000 / max(1, found["requests"])
    servers, postgres_s = sum(spent), tree_cpu_seconds(postgres) - pg
    wrk_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    found["cores"] = {"servers": servers / wall, "postgres": postgres_s / wall,
                      "wrk": wrk_s / wall,
                      "rest": max(0.0, busy_after - busy - servers - postgres_s - wrk_s) / wall,
                      "steal": (steal_after - steal) / wall}
    found["split"] = [s / servers if servers else 0.0 for s in spent]
    return found


def _cores(r: dict[str, Any]) -> str:
    """Where the CPU went during a run, in cores (of `os.cpu_count()`)."""
    cores = r["cores"]
    split = "/".join(f"{s:.2f}" for s in r["split"]) if len(r["split"]) > 1 else ""
    return (f"{'':38} cores: servers {cores['servers']:.2f}, Postgres {cores['postgres']:.2f},"
            f" wrk {cores['wrk']:.2f}, rest of the machine {cores['rest']:.2f}, steal"
            f" {cores['steal']:.2f}" + (f"; servers' split {split}" if split else ""))


def _row(label: str, r: dict[str, Any], target: str) -> str:
    errors = f"  {r['non_2xx']} non-2xx" if r["non_2xx"] else ""
    errors += f"  {r['socket_errors']} socket errors" if r["socket_errors"] else ""
    return (f"{label:38} {r['rate']:>6,.0f} {r['p50_us'] / 1000:>7.1f} {r['p90_us'] / 1000:>7.1f}"
            f" {r['p99_us'] / 1000:>7.1f} {r['max_us'] / 1000:>7.1f} {r['cpu_ms']:>6.2f}"
            f"   {target}{errors}")


LIMIT_PORT = int(BENCH_ENV["REELFLOW_CATALOG_PORT"]) + 50
PROJECTOR_PORT = int(BENCH_ENV["REELFLOW_CATALOG_PORT"]) + 60


AGAINST_PORT = int(BENCH_ENV["REELFLOW_CATALOG_PORT"]) + 40


def _spawn(argv: list[str], env: dict[str, str], log: Path,
           cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *argv], env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)


def _start_api(dsn: str, log: Path, processes: int, tree: Path = ROOT,
               port: int = AGAINST_PORT) -> list[subprocess.Popen[bytes]]:
    """`processes` catalog API processes; from another source `tree` (`python -m` puts its
    working directory first on the path) on `port`."""
    env = {"REELFLOW_PG_DSN": dsn, "REELFLOW_CATALOG_LAG_REFRESH_S": "0",
           "REELFLOW_CATALOG_CONSOLE_SAMPLE_S": "0", "REELFLOW_LOG_LEVEL": "WARNING",
           "REELFLOW_CATALOG_REUSE_PORT": "1" if processes > 1 else "0"}
    if tree != ROOT:
        env["REELFLOW_CATALOG_PORT"] = str(port)
    return [_spawn(["services.cli", "catalog", "--role", "api"], env, log, tree)
            for _ in range(processes)]


def _start_limit(dsn: str, log: Path, processes: int) -> list[subprocess.Popen[bytes]]:
    return [_spawn(["benchmarks.api_limit", "--port", str(LIMIT_PORT)],
                   {"REELFLOW_PG_DSN": dsn}, log) for _ in range(processes)]


def _start_stream(dsn: str, group: str, log: Path, seconds: float, rate: int,
                  projector_nice: int,
                  publisher_nice: int) -> tuple[subprocess.Popen[bytes], Any]:
    """A projector into this read model from the current log ends, at `projector_nice`
    (`REELFLOW_CATALOG_PROJECTOR_NICE`), and a thread that publishes `rate` events/s of
    new videos for `seconds` (started once it is running) at `publisher_nice`: it stands
    for the upstream services, which run on other machines."""
    import threading

    import psycopg
    from aiokafka import AIOKafkaProducer

    from benchmarks.projection import _log_ends
    from benchmarks.stories import interleaved
    from schemas import PIPELINE_TOPICS, topic_by_name
    from services.shared.codec import EventCodec
    from services.shared.kafka_security import client_options
    from services.shared.settings import CommonSettings

    common = CommonSettings()
    ends = asyncio.run(_log_ends(common.kafka_bootstrap, PIPELINE_TOPICS))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany('INSERT INTO consumer_offsets (group_id, topic, "partition", next_offset)'
                        " VALUES (%s, %s, %s, %s)",
                        [(group, t, p, o) for (t, p), o in ends.items()])
    projector = _spawn(["services.cli", "catalog", "--role", "projector"],
                       {"REELFLOW_PG_DSN": dsn, "REELFLOW_CATALOG_GROUP_ID": group,
                        "REELFLOW_CATALOG_PORT": str(PROJECTOR_PORT),
                        "REELFLOW_CATALOG_LAG_REFRESH_S": "0",
                        "REELFLOW_CATALOG_PROJECTOR_NICE": str(projector_nice),
                        "REELFLOW_CATALOG_BATCH_MAX_WAIT_MS": "50"}, log)
    codec = EventCodec(PIPELINE_TOPICS)
    count = int(seconds * rate)
    steps = list(itertools.islice(interleaved(count // 10 + 64, seed=int(time.time())), count))
    records = [(t, e.video_id.encode(), codec.encode(topic_by_name(t), e)) for t, e in steps]

    async def paced() -> None:
        # Linux keeps a niceness per thread: this lowers the publisher's alone.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), publisher_nice)
        # The services' producer settings (idempotent, acks=all); a tick's worth at a time.
        producer = AIOKafkaProducer(bootstrap_servers=common.kafka_bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5, **client_options())
        await producer.start()
        try:
            tick, started = 0.1, time.monotonic()
            per_tick = max(1, int(rate * tick))
            for n, i in enumerate(range(0, len(records), per_tick)):
                sent = [await producer.send(t, v, key=k) for t, k, v in records[i:i + per_tick]]
                await asyncio.gather(*sent)
                await asyncio.sleep(max(0.0, started + (n + 1) * tick - time.monotonic()))
        finally:
            await producer.stop()

    return projector, threading.Thread(target=lambda: asyncio.run(paced()), daemon=True)


def _wait_healthy(url: str, procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise SystemExit(f"a server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"catalog not healthy after 120 s; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def bench(args: argparse.Namespace) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from benchmarks.read_model import load
    from services.shared.settings import CommonSettings

    common = CommonSettings()
    run = run_name()
    schema = args.read_model or run
    dsn = make_conninfo(common.pg_dsn, options=f"-c search_path={schema}")
    url = f"http://127.0.0.1:{BENCH_ENV['REELFLOW_CATALOG_PORT']}"
    limit_url = f"http://127.0.0.1:{LIMIT_PORT}"
    log = STATE / "logs" / f"{run}-catalog.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if _kept(common.pg_dsn, schema, args.videos):
            print(f"read model: {args.videos:,} videos, kept in schema {schema} by an "
                  "earlier run (--read-model)")
        else:
            with psycopg.connect(common.pg_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE; CREATE SCHEMA {}")
                             .format(sql.Identifier(schema), sql.Identifier(schema)))
            asyncio.run(_migrate(dsn))
            seconds = load(dsn, args.videos)
            with psycopg.connect(dsn) as conn:
                conn.execute("CREATE TABLE bench_loaded (videos integer)")
                conn.execute("INSERT INTO bench_loaded VALUES (%s)", (args.videos,))
            print(f"read model: {args.videos:,} videos (+ renditions, packages) folded by "
                  f"the projection rules and COPYed in {seconds:.1f} s")
        with psycopg.connect(dsn) as conn:
            ids = [str(r[0]) for r in conn.execute(
                "SELECT video_id FROM videos TABLESAMPLE SYSTEM (20) LIMIT 20000").fetchall()]
        random.Random(3).shuffle(ids)
        parts = args.parts
        if parts & {"detail", "scale"}:
            _prewarm(dsn, ids)
        api = _start_api(dsn, log, args.processes)
        # The limit serves only the detail runs (and --scale's).
        limit = (_start_limit(dsn, log, args.processes)
                 if parts & {"detail", "scale"} else [])
        # Each --against tree's catalog on a port of its own: (tree, url, processes).
        against = [(tree, f"http://127.0.0.1:{AGAINST_PORT + i}",
                    _start_api(dsn, log, args.processes, tree, AGAINST_PORT + i))
                   for i, tree in enumerate(args.against)]
        procs = [*api, *limit, *(p for _, _, started in against for p in started)]
        _wait_healthy(url, api, log)
        if limit:
            _wait_healthy(limit_url, limit, log)
        for _, where, started in against:
            _wait_healthy(where, started, log)
        api_pids, limit_pids = [p.pid for p in api], [p.pid for p in limit]
        others = [(str(tree), where, [p.pid for p in started]) for tree, where, started in against]
        key = os.environ["REELFLOW_ADMIN_KEY"]
        detail = [f"/api/v1/videos/{i}" for i in ids]
        # Warm-up: the pools' connections, Python's imports and Postgres' caches (every id
        # once, so the server measured first does not pay for reading the read model in).
        if limit:
            _wrk(limit_url, detail, 0, 15, args.connections, key, limit_pids)
        for _, where, pids in (("", url, api_pids), ("", limit_url, limit_pids), *others):
            if pids:
                _wrk(where, detail[:2000], 0, 3, 4, key, pids)
        print(f"\ncatalog API: {args.processes} `reelflow catalog --role api` process(es) "
              f"(uvicorn, as the service runs); limit: as many `benchmarks.api_limit`; wrk 1 "
              f"thread, {args.connections} connections; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)")
        print(f"CPU calibration: a 5M-step Python loop took {calibration():.2f} CPU-s here "
              "(slower when the shared cores are oversubscribed)")
        print(f"{'':38} {'req/s':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
              f" {'CPU ms':>6}   target   (CPU ms: the servers' CPU per request)")
        if "detail" in parts:
            _details(args, url, limit_url, detail, key, api_pids, limit_pids, others)
        if "listings" in parts:
            _listings(args, url, key, api_pids, LISTINGS, others)
            if args.profile:
                _profiled_listings(args, key, (("catalog", url, api_pids),))
            _drain(dsn)
        if args.scale and "scale" in parts:
            for proc in [*api, *limit, *(p for _, _, started in against for p in started)]:
                _stop(proc)
                procs.remove(proc)
            api = _start_api(dsn, log, args.scale)
            limit = _start_limit(dsn, log, args.scale)
            # The --against trees' catalogs as many processes too, each on its own port.
            against = [(tree, where, _start_api(dsn, log, args.scale, tree, AGAINST_PORT + i))
                       for i, (tree, where, _) in enumerate(against)]
            procs += [*api, *limit, *(p for _, _, started in against for p in started)]
            _wait_healthy(url, api, log)
            _wait_healthy(limit_url, limit, log)
            for _, where, started in against:
                _wait_healthy(where, started, log)
            api_pids, limit_pids = [p.pid for p in api], [p.pid for p in limit]
            others = [(str(tree), where, [p.pid for p in started])
                      for tree, where, started in against]
            for where, pids in ((url, api_pids), (limit_url, limit_pids),
                                *((w, p) for _, w, p in others)):
                _wrk(where, detail[:2000], 0, 3, 4, key, pids)
            print(f"--scale: {args.scale} catalog API processes on the port, and as many "
                  f"limit processes; load average {os.getloadavg()[0]:.1f}")
            ours, bare = _side_by_side(args, url, limit_url, detail, key, api_pids,
                                       limit_pids)
            _against(args, detail, key, ours, bare, others)
            _paced(args, url, detail, key, api_pids, others)
            _listings(args, url, key, api_pids, LISTINGS[:3])
            _drain(dsn)
        if args.stream_rate and "stream" in parts:
            _under_stream(args, dsn, run, log, url, detail, key, api_pids, procs)
        print(f"load average {os.getloadavg()[0]:.1f} at the end; catalog log {log}")
    finally:
        for proc in procs:
            _stop(proc)
        if not args.read_model:
            with psycopg.connect(common.pg_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(sql.Identifier(run)))


def _details(args: argparse.Namespace, url: str, limit_url: str, detail: list[str], key: str,
             api_pids: list[int], limit_pids: list[int],
             others: list[tuple[str, str, list[int]]]) -> None:
    """The detail runs: unpaced beside the limit (and each --against tree), profiled if
    asked, paced at --rate and at --light-rate."""
    ours, bare = _side_by_side(args, url, limit_url, detail, key, api_pids, limit_pids)
    _against(args, detail, key, ours, bare, others)
    if args.profile:
        _profiled(args, detail, key, (("catalog", url, api_pids),
                                      ("limit", limit_url, limit_pids),
                                      *((Path(t).name, w, p) for t, w, p in others)))
    _paced(args, url, detail, key, api_pids, others)
    # Light load: the latency of one request when it need not queue behind others.
    r = _wrk(url, detail, args.light_rate, args.detail_seconds, args.connections, key,
             api_pids)
    print(_row(f"GET /videos/{{id}} at {args.light_rate}/s", r, "-"), flush=True)
    print(_cores(r), flush=True)


def _side_by_side(args: argparse.Namespace, url: str, limit_url: str, detail: list[str],
                  key: str, api_pids: list[int],
                  limit_pids: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unpaced detail on the catalog and on the limit, alternated for --rounds rounds
    (the order flips every round, so neither always runs first on a warmer or quieter
    machine): each round's figures and ratio, then the medians. Returns each side's
    median-throughput run."""
    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for n in range(args.rounds):
        runs: dict[str, dict[str, Any]] = {}
        order = (("catalog", url, api_pids), ("limit", limit_url, limit_pids))
        for name, where, pids in order if n % 2 == 0 else order[::-1]:
            runs[name] = _wrk(where, detail, 0, args.detail_seconds, args.connections, key,
                              pids)
            print(_row(f"GET /videos/{{id}} unpaced: {name}, round {n + 1}", runs[name], "-"),
                  flush=True)
            print(_cores(runs[name]), flush=True)
        rounds.append((runs["catalog"], runs["limit"]))
    ratios = sorted(ours["rate"] / bare["rate"] for ours, bare in rounds)
    cpu = sorted(ours["cpu_ms"] / bare["cpu_ms"] for ours, bare in rounds)
    print(f"catalog ÷ limit: throughput {statistics.median(ratios):.2f} "
          f"[{ratios[0]:.2f}-{ratios[-1]:.2f} over {len(rounds)} rounds] (target ≥ 0.8), "
          f"CPU per request {statistics.median(cpu):.2f}", flush=True)
    by_rate = sorted(rounds, key=lambda r: r[0]["rate"])
    ours = by_rate[len(by_rate) // 2][0]
    bare = sorted((r[1] for r in rounds), key=lambda b: b["rate"])[len(rounds) // 2]
    return ours, bare


def _against(args: argparse.Namespace, detail: list[str], key: str, ours: dict[str, Any],
             bare: dict[str, Any], others: Sequence[tuple[str, str, list[int]]]) -> None:
    """The unpaced detail on each --against tree's catalog, right after ours and the
    limit's, and its CPU per request and throughput against them."""
    for tree, where, pids in others:
        base = _wrk(where, detail, 0, args.detail_seconds, args.connections, key, pids)
        print(_row("same: catalog from --against", base, tree), flush=True)
        print(_cores(base), flush=True)
        print(f"catalog ÷ {tree}: CPU per request {ours['cpu_ms'] / base['cpu_ms']:.2f}"
              f"; {tree} ÷ limit: throughput {base['rate'] / bare['rate']:.2f}",
              flush=True)


def _paced(args: argparse.Namespace, url: str, detail: list[str], key: str,
           api_pids: list[int], others: Sequence[tuple[str, str, list[int]]] = ()) -> None:
    """The detail paced at --rate on our catalog and on each --against tree's, for
    --rounds rounds (the order flips every round), then each one's worst p99: one good run
    is not a reliable p99."""
    servers = [("", url, api_pids), *others]
    worst: dict[str, list[float]] = {tree: [] for tree, _, _ in servers}
    for n in range(args.rounds):
        for tree, where, pids in servers if n % 2 == 0 else servers[::-1]:
            r = _wrk(where, detail, args.rate, args.detail_seconds, args.connections, key,
                     pids)
            label = f"GET /videos/{{id}} at {args.rate}/s" if not tree else "  same: --against"
            print(_row(label + (f", round {n + 1}" if args.rounds > 1 else ""), r,
                       f"p99 < 20 ms at 1,000 req/s: {r['p99_us'] / 1000 / 20:.2f} of"
                       f" the budget{'; ' + tree if tree else ''}"), flush=True)
            print(_cores(r), flush=True)
            worst[tree].append(r["p99_us"] / 1000)
    if args.rounds > 1:
        for tree, p99s in worst.items():
            print(f"paced at {args.rate}/s, p99 over {len(p99s)} rounds: worst {max(p99s):.1f}"
                  f" ms, median {statistics.median(p99s):.1f} ms ({tree or 'this tree'})",
                  flush=True)


def _listings(args: argparse.Namespace, url: str, key: str, api_pids: list[int],
              listings: tuple[tuple[str, str], ...],
              others: Sequence[tuple[str, str, list[int]]] = ()) -> None:
    """Each listing paced at --list-rate; with --against trees, each listing on every
    tree right after ours (before and after side by side, a few seconds apart). PG ms:
    Postgres' CPU per request (the postmaster and its backends: this stack's own)."""
    postgres = _postgres_pid()

    def run(where: str, path: str, pids: list[int]) -> tuple[dict[str, Any], str]:
        pg = tree_cpu_seconds(postgres)
        r = _wrk(where, [path], args.list_rate, args.list_seconds, args.connections, key, pids)
        return r, f"PG ms {(tree_cpu_seconds(postgres) - pg) * 1000 / max(1, r['requests']):.2f}"

    for label, query in listings:
        path = f"/api/v1/videos?{query}"
        r, pg = run(url, path, api_pids)
        print(_row(f"list {label} at {args.list_rate}/s", r,
                   f"p99 < 50 ms: {r['p99_us'] / 1000 / 50:.2f} of the budget; {pg}"),
              flush=True)
        for tree, where, pids in others:
            r, pg = run(where, path, pids)
            print(_row("  same: catalog from --against", r, f"{tree}; {pg}"), flush=True)


@functools.cache
def _postgres_pid() -> int | None:
    """The benchmark stack's postmaster (its backends are its children)."""
    from services.stack import LocalStack, StackSettings

    return LocalStack(StackSettings()).postgres.process.pid


def _profiled_listings(args: argparse.Namespace, key: str,
                       servers: tuple[tuple[str, str, list[int]], ...]) -> None:
    """Each listing again at --list-rate with py-spy sampling each server's first process
    (separate runs, so the sampler's CPU stays out of the figures above; --native, so a
    sampled process runs slower)."""
    from benchmarks import profiles

    args.profile.mkdir(parents=True, exist_ok=True)
    for n, (label, query) in enumerate(LISTINGS):
        for name, where, pids in servers:
            out = args.profile / f"{name}-list{n}.txt"
            spy = profiles.record(pids[0], args.list_seconds, out)
            r = _wrk(where, [f"/api/v1/videos?{query}"], args.list_rate, args.list_seconds,
                     args.connections, key, pids)
            spy.wait(60)
            print(_row(f"profiled (py-spy): {name} list {label}", r, str(out)))
            print(profiles.top(out), flush=True)


def _drain(dsn: str) -> None:
    """Wait for the read model's queries still running after wrk stopped (a slow listing
    outlives its client), so the next run does not queue behind them."""
    import psycopg

    deadline = time.monotonic() + 120
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                " AND pid <> pg_backend_pid() AND datname = current_database()"
                                " AND backend_type = 'client backend'").fetchone()
            if busy is None or busy[0] == 0:
                return
            time.sleep(0.5)


def _prewarm(dsn: str, ids: list[str]) -> None:
    """Every sampled id's rows and index entries read into Postgres' buffers, by index
    (the planner's other joins would scan the tables and skip the indexes). The
    warm-up's random ids cover about half the sample, so the server measured first read
    the rest from disk and measured slower: the catalog, measured before the limit."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_hashjoin = off; SET enable_mergejoin = off;"
                     " SET enable_seqscan = off")
        for table in ("videos", "renditions", "rendition_scores", "packages"):
            conn.execute(f"SELECT count(*) FROM unnest(%s::uuid[]) AS i(id)"  # noqa: S608
                         f" JOIN {table} t ON t.video_id = i.id", (ids,))
    print(f"read model: the {len(ids):,} sampled videos prewarmed in "
          f"{time.perf_counter() - started:.1f} s", flush=True)


def _kept(dsn: str, schema: str, videos: int) -> bool:
    """Whether `schema` holds a read model an earlier run loaded with `videos` videos."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        marker = conn.execute("SELECT to_regclass(%s)", (f"{schema}.bench_loaded",)).fetchone()
        if marker is None or marker[0] is None:
            return False
        loaded = conn.execute(sql.SQL("SELECT videos FROM {}.bench_loaded")
                              .format(sql.Identifier(schema))).fetchone()
    return loaded is not None and loaded[0] == videos


def _profiled(args: argparse.Namespace, detail: list[str], key: str,
              servers: tuple[tuple[str, str, list[int]], ...]) -> None:
    """The unpaced detail run again on each server, with py-spy sampling its first
    process (separate runs: the sampler's own CPU stays out of the figures above)."""
    from benchmarks import profiles

    args.profile.mkdir(parents=True, exist_ok=True)
    for name, where, pids in servers:
        if not pids:
            continue
        out = args.profile / f"{name}.txt"
        spy = profiles.record(pids[0], args.detail_seconds, out)
        r = _wrk(where, detail, 0, args.detail_seconds, args.connections, key, pids)
        spy.wait(60)
        print(_row(f"profiled (py-spy): {name}", r, str(out)))
        print(profiles.top(out), flush=True)


def _under_stream(args: argparse.Namespace, dsn: str, run: str, log: Path, url: str,
                  detail: list[str], key: str, api_pids: list[int],
                  procs: list[subprocess.Popen[bytes]]) -> None:
    """Detail latency idle, then while a projector applies a steady stream, once for
    each `--stream-nice` (a fresh projector and consumer group each time)."""
    rate, seconds = args.stream_detail_rate, args.detail_seconds
    idle = _wrk(url, detail, rate, seconds, args.connections, key, api_pids)
    print(_row(f"GET /videos/{{id}} at {rate}/s, idle", idle, "-"), flush=True)
    for n, (projector_nice, publisher_nice) in enumerate(args.stream_nice or [(10, 10)]):
        projector, publisher = _start_stream(dsn, f"{run}-{n}", log, seconds + 5,
                                             args.stream_rate, projector_nice, publisher_nice)
        procs.append(projector)
        try:
            busy, applied = _streamed(args, dsn, url, detail, key, api_pids, publisher)
        finally:
            _stop(projector)
            procs.remove(projector)
        print(_row(f"same, {applied:,.0f} events/s, nice {projector_nice}/{publisher_nice}",
                   busy, f"p99 ≤ 1.5x idle: {busy['p99_us'] / idle['p99_us']:.2f}x"),
              flush=True)
    print("(nice P/B: the projector's niceness / the bench's publisher thread's)")


def _streamed(args: argparse.Namespace, dsn: str, url: str, detail: list[str], key: str,
              api_pids: list[int], publisher: Any) -> tuple[dict[str, Any], float]:
    """The detail at `--stream-detail-rate` while the stream runs, and the events/s
    applied meanwhile."""
    import psycopg

    rate, seconds = args.stream_detail_rate, args.detail_seconds
    time.sleep(5)  # the projector joins its group and reads its offsets
    publisher.start()
    time.sleep(2)  # the stream reaches its pace
    with psycopg.connect(dsn) as conn:
        applied_before = conn.execute("SELECT count(*) FROM timeline").fetchone()
    busy = _wrk(url, detail, rate, seconds, args.connections, key, api_pids)
    with psycopg.connect(dsn) as conn:
        applied_after = conn.execute("SELECT count(*) FROM timeline").fetchone()
    assert applied_before is not None and applied_after is not None
    applied = (applied_after[0] - applied_before[0]) / seconds
    publisher.join(seconds + 60)
    return busy, applied


#: The benchmark's parts, in the order they run (`--parts`).
PARTS = ("detail", "listings", "scale", "stream")


def _parts(text: str) -> set[str]:
    chosen = {p.strip() for p in text.split(",") if p.strip()}
    if not chosen or chosen - set(PARTS):
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}")
    return chosen


def _nices(text: str) -> tuple[int, int]:
    projector, _, publisher = text.partition(",")
    return int(projector), int(publisher or projector)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100_000, help="videos in the catalog")
    parser.add_argument("--rate", type=int, default=1000, help="detail requests/s")
    parser.add_argument("--list-rate", type=int, default=200, help="listing requests/s")
    parser.add_argument("--light-rate", type=int, default=20,
                        help="detail requests/s of the light-load run")
    parser.add_argument("--detail-seconds", type=int, default=20, help="seconds per detail run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="unpaced catalog and limit runs, alternated (medians printed),"
                             " and paced runs of each tree (the worst p99 printed)")
    parser.add_argument("--list-seconds", type=int, default=10, help="seconds per listing")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--processes", type=int, default=1,
                        help="API processes (and limit processes) sharing the port")
    parser.add_argument("--stream-rate", type=int, default=1000,
                        help="events/s the projector applies during the stream run (0: skip)")
    parser.add_argument("--stream-detail-rate", type=int, default=200,
                        help="detail requests/s of the idle and stream runs")
    parser.add_argument("--stream-nice", type=_nices, action="append", metavar="P,B",
                        help="the stream run's projector niceness and the publisher "
                             "thread's (repeatable: one stream run each; default 10,10)")
    parser.add_argument("--read-model", metavar="SCHEMA",
                        help="keep the read model in this Postgres schema and reuse it in "
                             "later runs with as many --videos (the stream run's videos stay "
                             "in it); default: a fresh schema, dropped at the end")
    parser.add_argument("--scale", type=int, default=0, metavar="N",
                        help="after the listings, restart with N catalog and N limit "
                             "processes and measure the detail again (unpaced, and at --rate);"
                             " the stream run then uses them")
    parser.add_argument("--against", type=Path, metavar="TREE", action="append", default=[],
                        help="also measure the unpaced detail on the catalog of another "
                             "source tree (e.g. `git archive` of an earlier commit), in "
                             "this run: before and after side by side (repeatable)")
    parser.add_argument("--profile", type=Path,
                        help="also profile one catalog and one limit process under the "
                             "unpaced load with py-spy, into this directory (and, with the "
                             "listings, our catalog under each listing)")
    parser.add_argument("--parts", type=_parts, default=set(PARTS),
                        metavar=",".join(PARTS),
                        help="run only these parts of the benchmark, comma-separated "
                             "(default: all), e.g. `--parts listings` for a short hold")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run ./run setup (Debian package `wrk`)")
    use_bench_env()
    with infrastructure():
        bench(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
