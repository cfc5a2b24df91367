"""Catalog API latency: `python -m benchmarks.api [--videos 100000]`.

Loads `--videos` videos into a fresh read model (`benchmarks.read_model`: the catalog's
own projection rules, rows written with COPY, not through Kafka), starts the catalog API
the way the service runs it (`reelflow catalog --role api`: one uvicorn process), and
drives it with wrk, an out-of-process load generator, sending the admin's `X-API-Key`:

- `GET /api/v1/videos/{id}` for random ids, paced at `--rate` (500/s), and once unpaced
  to show the ceiling;
- listings with filters (status, tag, metadata key, text search, sorts), each paced at
  `--list-rate`.

Prints achieved req/s and p50/p90/p99 latency next to the issue's targets (detail p99 <
20 ms at 500 req/s; listing p99 < 50 ms). Nothing is asserted: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
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
    tree_cpu_seconds,
    use_bench_env,
)

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


def _wrk(url: str, paths: list[str], rate: int, seconds: int, connections: int,
         key: str, server_pid: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as f:
        f.write("\n".join(paths) + "\n")
    cpu = tree_cpu_seconds(server_pid)
    try:
        env = {**os.environ, "WRK_PATHS": f.name, "WRK_RATE": str(rate), "WRK_THREADS": "1"}
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "-s", str(LUA), "-H", f"X-API-Key: {key}", url],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        os.unlink(f.name)
    line = [s for s in done.stdout.splitlines() if s.startswith("{")][-1]
    found: dict[str, Any] = json.loads(line)
    found["rate"] = found["requests"] / (found["duration_us"] / 1e6)
    found["cpu_ms"] = (tree_cpu_seconds(server_pid) - cpu) * 1000 / max(1, found["requests"])
    return found


def _row(label: str, r: dict[str, Any], target: str) -> str:
    errors = f"  {r['non_2xx']} non-2xx" if r["non_2xx"] else ""
    errors += f"  {r['socket_errors']} socket errors" if r["socket_errors"] else ""
    return (f"{label:38} {r['rate']:>6,.0f} {r['p50_us'] / 1000:>7.1f} {r['p90_us'] / 1000:>7.1f}"
            f" {r['p99_us'] / 1000:>7.1f} {r['max_us'] / 1000:>7.1f} {r['cpu_ms']:>6.1f}"
            f"   {target}{errors}")


def _start_api(dsn: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REELFLOW_PG_DSN": dsn, "REELFLOW_CATALOG_LAG_REFRESH_S": "0",
           "REELFLOW_LOG_LEVEL": "WARNING"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.cli", "catalog", "--role", "api"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"catalog exited: {log.read_text()[-2000:]}")
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
    dsn = make_conninfo(common.pg_dsn, options=f"-c search_path={run}")
    url = f"http://127.0.0.1:{BENCH_ENV['REELFLOW_CATALOG_PORT']}"
    log = STATE / "logs" / f"{run}-catalog.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(common.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(run)))
    proc = None
    try:
        asyncio.run(_migrate(dsn))
        seconds = load(dsn, args.videos)
        print(f"read model: {args.videos:,} videos (+ renditions, packages) folded by the "
              f"projection rules and COPYed in {seconds:.1f} s")
        with psycopg.connect(dsn) as conn:
            ids = [str(r[0]) for r in conn.execute(
                "SELECT video_id FROM videos TABLESAMPLE SYSTEM (20) LIMIT 20000").fetchall()]
        random.Random(3).shuffle(ids)
        proc = _start_api(dsn, log)
        _wait_healthy(url, proc, log)
        key = os.environ["REELFLOW_ADMIN_KEY"]
        # Warm-up: the pool's connections, Python's imports and Postgres' caches.
        _wrk(url, [f"/api/v1/videos/{i}" for i in ids[:2000]], 0, 3, 4, key, proc.pid)
        print(f"\ncatalog API: one `reelflow catalog --role api` process (uvicorn, as the "
              f"service runs); wrk 1 thread, {args.connections} connections; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"CPU calibration: a 5M-step Python loop took {calibration():.2f} CPU-s here "
              "(slower when the shared cores are oversubscribed)")
        print(f"{'':38} {'req/s':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
              f" {'CPU ms':>6}   target   (CPU ms: the API process's CPU per request)")
        detail = [f"/api/v1/videos/{i}" for i in ids]
        r = _wrk(url, detail, args.rate, args.detail_seconds, args.connections, key, proc.pid)
        print(_row(f"GET /videos/{{id}} at {args.rate}/s", r,
                   f"p99 < 20 ms at 500 req/s: {r['p99_us'] / 1000 / 20:.2f} of the budget"),
              flush=True)
        r = _wrk(url, detail, 0, args.detail_seconds, args.connections, key, proc.pid)
        print(_row("GET /videos/{id} unpaced (ceiling)", r, "-"), flush=True)
        # Light load: the latency of one request when it need not queue behind others.
        r = _wrk(url, detail, args.light_rate, args.detail_seconds, args.connections, key,
                 proc.pid)
        print(_row(f"GET /videos/{{id}} at {args.light_rate}/s", r, "-"), flush=True)
        for label, query in LISTINGS:
            r = _wrk(url, [f"/api/v1/videos?{query}"], args.list_rate, args.list_seconds,
                     args.connections, key, proc.pid)
            print(_row(f"list {label} at {args.list_rate}/s", r,
                       f"p99 < 50 ms: {r['p99_us'] / 1000 / 50:.2f} of the budget"), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end; catalog log {log}")
    finally:
        if proc is not None:
            _stop(proc)
        with psycopg.connect(common.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(run)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100_000, help="videos in the catalog")
    parser.add_argument("--rate", type=int, default=500, help="detail requests/s")
    parser.add_argument("--list-rate", type=int, default=20, help="listing requests/s")
    parser.add_argument("--light-rate", type=int, default=20,
                        help="detail requests/s of the light-load run")
    parser.add_argument("--detail-seconds", type=int, default=20, help="seconds per detail run")
    parser.add_argument("--list-seconds", type=int, default=10, help="seconds per listing")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run ./run setup (Debian package `wrk`)")
    use_bench_env()
    with infrastructure():
        bench(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
