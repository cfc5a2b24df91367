"""Ingest upload throughput and memory against the S3 gateway's own speed:
`python -m benchmarks.ingest [--gb 2] [--uploads 100] [--upload-mb 50] [--rounds 3]
[--against TREE]`.

Starts its own infrastructure (Kafka, PostgreSQL, SeaweedFS S3 under `.reelflow-bench-ingest/`,
on ports no dev stack or test slot uses) and one ingest process (plus one per `--against`
tree, e.g. a `git archive` of main, on the next ports), then, in each round:

1. streams a body of `--gb` GB over loopback HTTP to `POST /api/v1/videos`, per ingest;
2. the limit: the same bytes uploaded straight to the same SeaweedFS with boto3 (S3
   multipart, 8 MiB parts, 2 in flight: what ingest does per upload), and ingest ÷ direct;
3. `--uploads` concurrent uploads of `--upload-mb` MB each, per ingest: how many were
   accepted, the aggregate MB/s, slowest against median, the checks' CPU per upload
   (ingest's children, live or reaped), and ingest's peak RSS; and their limit: the same
   uploads straight to S3, as many at a time as ingest streams (each its own multipart
   upload, created and completed, as through ingest). The aggregate is also printed
   against step 2's one big upload, which has none of those 100 starts and ends.

The direct runs sit between the ingests, in an order reversed every other round, so each
ratio comes from neighbouring runs; the summary gives each figure's median and range over
the rounds (the limit itself moves by a third between minutes on a shared machine). What
the uploads stored is deleted and vacuumed after each run, so rounds do not fill the disk.

The body is a real video: a short H.264/AAC clip in MPEG-TS (made with the project's
FFmpeg), repeated to the size wanted. TS is a plain sequence of packets, so the repeats
are a stream that probes and decodes as the clip (its timestamps restart, its duration
reads as the clip's), ingest accepts it and publishes `video-uploaded` as for any upload:
the run covers the path a real upload takes, probe included. Bodies are produced on the
fly (never stored), so disk speed plays no part. Ingest's RSS is sampled from /proc every
50 ms.

Targets from the issue: ≥ 0.9 of direct; peak RSS < 150 MB for one upload, ≤ 300 MB for
the concurrent ones, aggregate ≥ 0.8 of the same uploads sent direct. Figures are printed,
never asserted: on a shared 2-core box they are noisy; ratios measured side by side are
what count.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.proctime import stat_fields, tree_cpu_seconds, tree_cpu_split

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".reelflow-bench-ingest"
#: Ports outside the dev stack (18xxx/19xxx/800x) and test slots (21xxx-22xxx, 24xxx);
#: SeaweedFS also binds each port + 10000, which stays below the ephemeral range.
BENCH_ENV = {
    "REELFLOW_STATE_DIR": str(STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:23092",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": "23093",
    "REELFLOW_PG_DSN": "host=127.0.0.1 port=23432 dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": "http://127.0.0.1:20533",
    "REELFLOW_STACK_WEED_MASTER_PORT": "20534",
    "REELFLOW_STACK_WEED_VOLUME_PORT": "20580",
    "REELFLOW_STACK_WEED_FILER_PORT": "20588",
    "REELFLOW_INGEST_PORT": "23001",
    "REELFLOW_LOG_LEVEL": "WARNING",
}
BLOCK = 1024 * 1024
MB = 1e6


class RssSampler(threading.Thread):
    """Polls VmRSS of one process; the kernel's VmHWM is read at the end as a cross-check."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every_s = every_s
        self.peak_kb = 0
        self.samples = 0
        self._halt = threading.Event()

    def field_kb(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak_kb = max(self.peak_kb, self.field_kb("VmRSS"))
                self.samples += 1
            except (FileNotFoundError, ProcessLookupError):
                return
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def page_faults(pid: int | None) -> int:
    """Minor page faults of the process itself so far (proc(5) field 10): each fresh page
    of a new buffer costs one, and the kernel zeroes the page."""
    fields = None if pid is None else stat_fields(pid)
    return 0 if fields is None else int(fields[7])


def video_chunk(seconds: float = 2.0) -> bytes:
    """A real clip as MPEG-TS bytes: 1280x720 H.264 (intra-heavy, so it is megabytes, not
    kilobytes) with AAC, made by the project's FFmpeg."""
    import subprocess
    import tempfile

    from imageio_ffmpeg import get_ffmpeg_exe

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.ts"
        subprocess.run([get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=1280x720:rate=30:duration={seconds}", "-f", "lavfi",
                        "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-qp", "4", "-g", "1", "-c:a", "aac",
                        "-f", "mpegts", str(out)], check=True)
        return out.read_bytes()


def video_stream(total: int, chunk: bytes) -> Iterator[bytes]:
    """`total` bytes of the clip repeated (the last repeat cut at a TS packet boundary is
    not needed: a truncated final packet is what a cut stream looks like, and probes)."""
    left = total
    view = memoryview(chunk)
    while left > 0:
        size = min(len(chunk), left)
        for start in range(0, size, BLOCK):
            yield bytes(view[start:min(start + BLOCK, size)])
        left -= size


def multipart_body(total: int, chunk: bytes, boundary: str,
                   sent: list[float]) -> Iterator[bytes]:
    yield multipart_head(boundary)
    yield from video_stream(total, chunk)
    sent.append(time.perf_counter())
    yield multipart_tail(boundary)


def multipart_head(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"bench.ts\"\r\nContent-Type: video/mp2t\r\n\r\n").encode()


def multipart_tail(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


def direct_upload(total: int, chunk: bytes, key: str) -> float:
    """Seconds to upload `total` bytes of the stream straight to S3 with boto3: multipart,
    8 MiB parts, two in flight (as ingest's MultipartUpload), then completed and deleted."""
    from concurrent.futures import ThreadPoolExecutor

    from services.shared.settings import CommonSettings
    from services.shared.storage import PART_SIZE, s3_client

    common = CommonSettings()
    s3 = s3_client(common)
    bucket = common.s3_bucket
    started = time.perf_counter()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts: list[Any] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        buffer, number = bytearray(), 0
        for block in video_stream(total, chunk):
            buffer += block
            if len(buffer) >= PART_SIZE:
                number += 1
                if len(parts) >= 2:
                    parts[-2].result()  # two in flight at most
                parts.append(pool.submit(s3.upload_part, Bucket=bucket, Key=key,
                                         UploadId=upload_id, PartNumber=number,
                                         Body=bytes(buffer)))
                buffer.clear()
        if buffer:
            number += 1
            parts.append(pool.submit(s3.upload_part, Bucket=bucket, Key=key,
                                     UploadId=upload_id, PartNumber=number,
                                     Body=bytes(buffer)))
        done = [{"PartNumber": i + 1, "ETag": f.result()["ETag"]} for i, f in enumerate(parts)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    seconds = time.perf_counter() - started
    s3.delete_object(Bucket=bucket, Key=key)
    return seconds


async def concurrent_uploads(url: str, api_key: str, count: int, size: int,
                             chunk: bytes) -> tuple[list[float], list[int], float]:
    """`count` uploads of `size` bytes at once: each one's seconds, every status, wall s."""
    import asyncio

    import httpx

    boundary = "reelflow-bench-boundary"
    length = len(multipart_head(boundary)) + size + len(multipart_tail(boundary))

    async def body() -> Any:
        yield multipart_head(boundary)
        for block in video_stream(size, chunk):
            yield block
            await asyncio.sleep(0)  # let the other uploads' clients send too
        yield multipart_tail(boundary)

    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(1800, connect=60),
                                 limits=limits) as client:
        async def one() -> tuple[float, int]:
            started = time.perf_counter()
            reply = await client.post(url, content=body(), headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length), "X-API-Key": api_key})
            return time.perf_counter() - started, reply.status_code

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(count)))
        wall = time.perf_counter() - started
    return [r[0] for r in results], [r[1] for r in results], wall


def direct_concurrent(count: int, size: int, chunk: bytes, streams: int) -> float:
    """Wall seconds of `count` direct uploads of `size` bytes, `streams` at a time (each as
    `direct_upload`: 8 MiB parts, 2 in flight): the concurrent phase's shape (ingest streams
    `concurrent_uploads` at once) without the HTTP hop and the content check."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        list(pool.map(lambda n: direct_upload(size, chunk, f"bench/concurrent-{n}"),
                      range(count)))
    return time.perf_counter() - started


class Ingest:
    """One ingest process under test: this tree's, or an `--against` tree's on a port of its
    own (same Kafka, Postgres and S3; `python -m` imports the code of its working dir)."""

    def __init__(self, name: str, service: Any, url: str) -> None:
        self.name = name
        self.service = service
        self.url = url

    @property
    def pid(self) -> int:
        pid = self.service.process.pid
        assert pid is not None, f"{self.name} is not running"
        return int(pid)


def start_ingests(stack: Any, against: list[Path]) -> list[Ingest]:
    from services.stack.apps import Service
    from services.stack.process import ManagedProcess

    class InTree(ManagedProcess):
        """Runs its process in `tree`: `python -m services.cli` imports that tree's code."""

        def __init__(self, name: str, state_dir: Path, tree: Path) -> None:
            super().__init__(name, state_dir)
            self.tree = tree

        def start(self, argv: Any, env: dict[str, str] | None = None,
                  cwd: Path | None = None, user: str | None = None) -> int:
            return super().start(argv, env, self.tree, user)

    ingests = [Ingest("ingest", stack.component("ingest"), "")]
    for n, tree in enumerate(against, start=1):
        port = int(BENCH_ENV["REELFLOW_INGEST_PORT"]) + n
        service = Service(f"ingest-against-{n}", stack.settings, "REELFLOW_INGEST_PORT", port,
                          command="ingest", env={"REELFLOW_INGEST_PORT": str(port)})
        service.process = InTree(service.name, stack.settings.state_dir, tree.resolve())
        ingests.append(Ingest(str(tree), service, ""))
    for ingest in ingests:
        ingest.service.start()
    deadline = time.monotonic() + 120
    for ingest in ingests:
        while not ingest.service.healthy():
            if time.monotonic() > deadline or ingest.service.process.pid is None:
                raise SystemExit(f"{ingest.name} did not start; see "
                                 f"{ingest.service.process.log_file}")
            time.sleep(0.5)
        ingest.url = f"{ingest.service.address}/api/v1/videos"
    return ingests


def purge_sources() -> None:
    """Delete what the uploads stored and have SeaweedFS reclaim the space (its volumes are
    append-only: a deleted object's bytes stay on disk until a vacuum). Between
    measurements, so that rounds do not fill the disk: every round stores gigabytes."""
    import httpx

    from services.shared.settings import CommonSettings
    from services.shared.storage import s3_client

    common = CommonSettings()
    s3 = s3_client(common)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=common.s3_bucket,
                                                         Prefix="sources/")
    for page in pages:
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=common.s3_bucket, Delete={"Objects": keys})
    master = BENCH_ENV["REELFLOW_STACK_WEED_MASTER_PORT"]
    httpx.get(f"http://127.0.0.1:{master}/vol/vacuum?garbageThreshold=0.01", timeout=600)


def one_upload(ingest: Ingest, api_key: str, total: int, chunk: bytes,
               s3_pid: int | None) -> dict[str, Any]:
    """One `total`-byte upload through `ingest`: rate, CPU split, peak RSS."""
    import httpx

    boundary = "reelflow-bench-boundary"
    sent: list[float] = []
    sampler = RssSampler(ingest.pid)
    sampler.start()
    before = tree_cpu_split(ingest.pid), tree_cpu_seconds(s3_pid), time.process_time()
    faults = page_faults(ingest.pid)
    start = time.perf_counter()
    reply = httpx.post(
        ingest.url, content=multipart_body(total, chunk, boundary, sent),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Content-Length": str(len(multipart_head(boundary)) + total
                                       + len(multipart_tail(boundary))),
                 "X-API-Key": api_key},
        timeout=httpx.Timeout(900, connect=10),
    )
    answered = time.perf_counter()
    after = tree_cpu_split(ingest.pid), tree_cpu_seconds(s3_pid), time.process_time()
    sampler.stop()
    upload_s = (sent[0] if sent else answered) - start
    return {"rate": total / MB / upload_s, "request_s": answered - start,
            "status": reply.status_code, "answer": reply.text[:120],
            "cpu": after[0][0] - before[0][0], "check_cpu": after[0][1] - before[0][1],
            "weed_cpu": after[1] - before[1], "client_cpu": after[2] - before[2],
            "faults_per_mb": (page_faults(ingest.pid) - faults) / (total / MB),
            "peak_mb": sampler.peak_kb / 1024}


def many_uploads(ingest: Ingest, api_key: str, count: int, size: int, chunk: bytes,
                 s3_pid: int | None) -> dict[str, Any]:
    """`count` concurrent uploads of `size` bytes through `ingest`."""
    import asyncio
    import statistics

    sampler = RssSampler(ingest.pid)
    sampler.start()
    before = tree_cpu_split(ingest.pid), tree_cpu_seconds(s3_pid), time.process_time()
    faults = page_faults(ingest.pid)
    times, statuses, wall = asyncio.run(concurrent_uploads(ingest.url, api_key, count, size,
                                                           chunk))
    after = tree_cpu_split(ingest.pid), tree_cpu_seconds(s3_pid), time.process_time()
    sampler.stop()
    median = statistics.median(times)
    return {"rate": count * size / MB / wall, "wall": wall,
            "accepted": sum(1 for s in statuses if s == 202),
            "others": sorted(s for s in statuses if s != 202)[:10],
            "median_s": median, "slowest": max(times) / median,
            "cpu": after[0][0] - before[0][0],
            "check_cpu_each": (after[0][1] - before[0][1]) / count,
            "weed_cpu": after[1] - before[1], "client_cpu": after[2] - before[2],
            "faults_per_mb": (page_faults(ingest.pid) - faults) / (count * size / MB),
            "peak_mb": sampler.peak_kb / 1024}


def round_order(ingests: list[Ingest], round_: int) -> list[Ingest | None]:
    """The direct limit (None) in the middle, the ingests around it, reversed every other
    round: each ratio is taken from neighbouring runs, and a drift cancels out."""
    order = [*ingests[:1], None, *ingests[1:]]
    return order[::-1] if round_ % 2 == 0 else order


def spread(values: list[float], digits: int = 2) -> str:
    """`median [min-max]` of a figure over the rounds."""
    import statistics

    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return (f"{statistics.median(values):.{digits}f} "
            f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="body size in GB (10^9 bytes)")
    parser.add_argument("--uploads", type=int, default=100, help="concurrent uploads (0: skip)")
    parser.add_argument("--upload-mb", type=float, default=50.0,
                        help="size of each concurrent upload in MB (10^6 bytes)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds, each measuring every ingest and the direct limit next to "
                             "each other (the order reversed every other round)")
    parser.add_argument("--against", type=Path, metavar="TREE", action="append", default=[],
                        help="also measure the ingest of another source tree (e.g. a `git "
                             "archive` of main), in the same rounds; may be repeated")
    args = parser.parse_args()
    os.environ.update(BENCH_ENV)
    # The stack's Kafka health probe logs every refused connection while the broker starts.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    # Imported after the environment is set: settings objects read it when built.
    from services.stack import LocalStack, StackSettings
    from services.stack.admin_key import ensure_admin_key

    total = int(args.gb * 1e9)
    size = int(args.upload_mb * 1e6)
    chunk = video_chunk()
    stack = LocalStack(StackSettings())
    t0 = time.perf_counter()
    shutil.rmtree(STATE, ignore_errors=True)
    ingests: list[Ingest] = []
    try:
        stack.up(infra_only=True)
        ingests = start_ingests(stack, args.against)
        print(f"infrastructure and {len(ingests)} ingest process(es) up in "
              f"{time.perf_counter() - t0:.1f} s (state {STATE}); body: a "
              f"{len(chunk) / MB:.1f} MB H.264/AAC MPEG-TS clip, repeated; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
        api_key = ensure_admin_key(stack.settings.common)
        s3_pid = stack.s3.process.pid
        streams = int(os.environ.get("REELFLOW_INGEST_CONCURRENT_UPLOADS", "4"))
        idle = {i.name: RssSampler(i.pid).field_kb("VmRSS") / 1024 for i in ingests}
        one: dict[str, list[dict[str, Any]]] = {i.name: [] for i in ingests}
        many: dict[str, list[dict[str, Any]]] = {i.name: [] for i in ingests}
        direct_rates: list[float] = []
        direct_many: list[float] = []
        for round_ in range(1, args.rounds + 1):
            print(f"\n-- round {round_} ({time.strftime('%H:%M:%S', time.gmtime())} UTC, "
                  f"load average {os.getloadavg()[0]:.1f})", flush=True)
            for who in round_order(ingests, round_):
                if who is None:
                    weed0, client0 = tree_cpu_seconds(s3_pid), time.process_time()
                    direct_s = direct_upload(total, chunk, f"bench/direct-{time.time_ns()}")
                    direct_rates.append(total / MB / direct_s)
                    print(f"  direct boto3 (8 MiB parts, 2 in flight, same client config): "
                          f"{direct_rates[-1]:.0f} MB/s; CPU s: weed "
                          f"{tree_cpu_seconds(s3_pid) - weed0:.1f}, boto3 client "
                          f"{time.process_time() - client0:.1f}", flush=True)
                    continue
                r = one_upload(who, api_key, total, chunk, s3_pid)
                purge_sources()
                one[who.name].append(r)
                print(f"  {who.name}: {total / MB:,.0f} MB, answered {r['status']}, upload "
                      f"phase {r['rate']:.0f} MB/s (whole request {r['request_s']:.1f} s); "
                      f"CPU s: ingest {r['cpu']:.1f} + its checks {r['check_cpu']:.2f}, weed "
                      f"{r['weed_cpu']:.1f}, client {r['client_cpu']:.1f}; peak RSS "
                      f"{r['peak_mb']:.0f} MB", flush=True)
                if r["status"] != 202:
                    print(f"    answer: {r['answer']}")
            if not args.uploads:
                continue
            for who in round_order(ingests, round_):
                if who is None:
                    weed0, client0 = tree_cpu_seconds(s3_pid), time.process_time()
                    wall = direct_concurrent(args.uploads, size, chunk, streams)
                    direct_many.append(args.uploads * size / MB / wall)
                    print(f"  direct, {args.uploads} x {size / MB:.0f} MB, {streams} at a time "
                          f"(ingest's concurrent_uploads): {direct_many[-1]:.0f} MB/s; CPU s: "
                          f"weed {tree_cpu_seconds(s3_pid) - weed0:.1f}, boto3 client "
                          f"{time.process_time() - client0:.1f}", flush=True)
                    continue
                m = many_uploads(who, api_key, args.uploads, size, chunk, s3_pid)
                purge_sources()
                many[who.name].append(m)
                print(f"  {who.name}: {args.uploads} x {size / MB:.0f} MB at once: "
                      f"{m['accepted']} accepted {m['others'] or ''}, {m['rate']:.0f} MB/s "
                      f"aggregate; slowest {m['slowest']:.2f}x the median ({m['median_s']:.1f} "
                      f"s); CPU s: ingest {m['cpu']:.1f} + checks {m['check_cpu_each']:.3f} "
                      f"per upload, weed {m['weed_cpu']:.1f}, clients {m['client_cpu']:.1f}; "
                      f"peak RSS {m['peak_mb']:.0f} MB", flush=True)

        print(f"\n== {args.rounds} round(s): median [min-max]; each ratio against the direct "
              f"limit of its own round; load average {os.getloadavg()[0]:.1f} "
              f"({time.strftime('%H:%M:%S', time.gmtime())} UTC)")
        print(f"direct limit, one upload: {spread(direct_rates, 0)} MB/s"
              + (f"; {args.uploads} at {streams} at a time: {spread(direct_many, 0)} MB/s"
                 if direct_many else ""))
        for ingest in ingests:
            rows = one[ingest.name]
            print(f"{ingest.name} (idle RSS {idle[ingest.name]:.0f} MB):")
            print(f"  one upload: {spread([r['rate'] for r in rows], 0)} MB/s; ÷ direct "
                  f"{spread([r['rate'] / d for r, d in zip(rows, direct_rates, strict=True)])}"
                  f" [target ≥ 0.9]; ingest CPU s {spread([r['cpu'] for r in rows], 1)} "
                  f"+ check {spread([r['check_cpu'] for r in rows])}; weed CPU s "
                  f"{spread([r['weed_cpu'] for r in rows], 1)}; page faults per MB "
                  f"{spread([r['faults_per_mb'] for r in rows], 0)}; peak RSS "
                  f"{max(r['peak_mb'] for r in rows):.0f} MB [target < 150]")
            rows = many[ingest.name]
            if rows:
                print(f"  {args.uploads} at once: {min(r['accepted'] for r in rows)}+ of "
                      f"{args.uploads} accepted; {spread([r['rate'] for r in rows], 0)} MB/s; "
                      f"÷ direct, the same {args.uploads} uploads {streams} at a time "
                      f"{spread([r['rate'] / d for r, d in zip(rows, direct_many, strict=True)])}"
                      f" [target ≥ 0.8]; ÷ direct, one upload of {total / MB:,.0f} MB "
                      f"{spread([r['rate'] / d for r, d in zip(rows, direct_rates, strict=True)])}"
                      f"; slowest ÷ median {spread([r['slowest'] for r in rows])}; check "
                      f"CPU s per upload {spread([r['check_cpu_each'] for r in rows], 3)}; "
                      f"ingest CPU s {spread([r['cpu'] for r in rows], 1)}; weed CPU s "
                      f"{spread([r['weed_cpu'] for r in rows], 1)}; page faults per MB "
                      f"{spread([r['faults_per_mb'] for r in rows], 0)}; peak RSS "
                      f"{max(r['peak_mb'] for r in rows):.0f} MB [target ≤ 300]")
        return 0
    finally:
        for ingest in ingests:
            ingest.service.stop()
        stack.down()
        # Every run stores gigabytes in its SeaweedFS; left behind they fill the disk (the
        # gateway then answers InternalError).
        shutil.rmtree(STATE, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
