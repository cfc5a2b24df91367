"""Ingest upload throughput and memory against the S3 gateway's own speed:
`python -m benchmarks.ingest [--gb 2] [--uploads 100] [--upload-mb 50]`.

Starts its own infrastructure (Kafka, PostgreSQL, SeaweedFS S3 under `.reelflow-bench-ingest/`,
on ports no dev stack or test slot uses) and ONE ingest process, then, in one run:

1. streams a body of `--gb` GB over loopback HTTP to `POST /api/v1/videos`;
2. the limit: the same bytes uploaded straight to the same SeaweedFS with boto3 (S3
   multipart, 8 MiB parts, 2 in flight: what ingest does per upload), and ingest ÷ direct;
3. `--uploads` concurrent uploads of `--upload-mb` MB each: how many were accepted, the
   aggregate MB/s against the direct limit, slowest against median, and ingest's peak RSS.

The body is a real video: a short H.264/AAC clip in MPEG-TS (made with the project's
FFmpeg), repeated to the size wanted. TS is a plain sequence of packets, so the repeats
are a stream that probes and decodes as the clip (its timestamps restart, its duration
reads as the clip's), ingest accepts it and publishes `video-uploaded` as for any upload:
the run covers the path a real upload takes, probe included. Bodies are produced on the
fly (never stored), so disk speed plays no part. Ingest's RSS is sampled from /proc every
50 ms.

Targets from the issue: ≥ 0.9 of direct; peak RSS < 150 MB for one upload, ≤ 300 MB for
the concurrent ones, aggregate ≥ 0.8 of direct. Figures are printed, never asserted: on a
shared 2-core box they are noisy; ratios measured side by side are what count.
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


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (and its reaped children) from /proc."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # Fields 14-17 of proc(5) (utime, stime, cutime, cstime); index 0 here is field 3.
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="body size in GB (10^9 bytes)")
    parser.add_argument("--uploads", type=int, default=100, help="concurrent uploads (0: skip)")
    parser.add_argument("--upload-mb", type=float, default=50.0,
                        help="size of each concurrent upload in MB (10^6 bytes)")
    args = parser.parse_args()
    os.environ.update(BENCH_ENV)
    # The stack's Kafka health probe logs every refused connection while the broker starts.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    # Imported after the environment is set: settings objects read it when built.
    import asyncio
    import statistics

    import httpx

    from services.stack import LocalStack, StackSettings
    from services.stack.admin_key import ensure_admin_key

    total = int(args.gb * 1e9)
    chunk = video_chunk()
    stack = LocalStack(StackSettings())
    ingest = stack.component("ingest")
    t0 = time.perf_counter()
    shutil.rmtree(STATE, ignore_errors=True)
    try:
        stack.up(infra_only=True)
        ingest.start()
        deadline = time.monotonic() + 120
        while not ingest.healthy():
            if time.monotonic() > deadline or ingest.process.pid is None:
                raise SystemExit(f"ingest did not start; see {ingest.process.log_file}")
            time.sleep(0.5)
        print(f"infrastructure and ingest up in {time.perf_counter() - t0:.1f} s "
              f"(state {STATE}); body: a {len(chunk) / MB:.1f} MB H.264/AAC MPEG-TS clip, "
              f"repeated", flush=True)
        pid = ingest.process.pid
        assert pid is not None
        api_key = ensure_admin_key(stack.settings.common)
        url = f"{ingest.address}/api/v1/videos"
        sampler = RssSampler(pid)
        idle_mb = sampler.field_kb("VmRSS") / 1024
        sampler.start()
        boundary = "reelflow-bench-boundary"
        sent: list[float] = []
        s3_pid = stack.s3.process.pid
        cpu_before = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
        start = time.perf_counter()
        reply = httpx.post(
            url, content=multipart_body(total, chunk, boundary, sent),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Content-Length": str(len(multipart_head(boundary)) + total
                                           + len(multipart_tail(boundary))),
                     "X-API-Key": api_key},
            timeout=httpx.Timeout(900, connect=10),
        )
        answered = time.perf_counter()
        cpu_after = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
        sampler.stop()
        one_peak_mb = sampler.peak_kb / 1024
        upload_s = (sent[0] if sent else answered) - start
        ingest_rate = total / MB / upload_s
        load = os.getloadavg()[0]
        print(f"body: {total / MB:,.0f} MB streamed over loopback HTTP; ingest answered "
              f"{reply.status_code} {reply.text[:120]}")
        print(f"ingest upload phase (first byte to last byte accepted): {upload_s:.1f} s = "
              f"{ingest_rate:.0f} MB/s; whole request incl. completing, probe and event: "
              f"{answered - start:.1f} s")
        ingest_cpu, s3_cpu, client_cpu = (b - a for a, b in zip(cpu_before, cpu_after,
                                                                 strict=True))
        print(f"CPU seconds: ingest {ingest_cpu:.1f}, S3 gateway (weed) {s3_cpu:.1f}, this "
              f"client {client_cpu:.1f}; ingest RSS idle {idle_mb:.0f} MB, peak "
              f"{one_peak_mb:.0f} MB [target < 150 MB]; load average {load:.1f} on "
              f"{os.cpu_count()} CPUs (shared machine)", flush=True)

        s3_cpu0, client_cpu0 = cpu_seconds(s3_pid), time.process_time()
        direct_s = direct_upload(total, chunk, f"bench/direct-{time.time_ns()}")
        direct_rate = total / MB / direct_s
        print(f"limit: boto3 multipart straight to the same S3 gateway (8 MiB parts, 2 in "
              f"flight, the same client config: no payload hash, no per-part checksum), same "
              f"bytes: {direct_s:.1f} s = {direct_rate:.0f} MB/s (CPU seconds: weed "
              f"{cpu_seconds(s3_pid) - s3_cpu0:.1f}, boto3 client "
              f"{time.process_time() - client_cpu0:.1f}; load average "
              f"{os.getloadavg()[0]:.1f})")
        print(f"ingest ÷ direct: {ingest_rate / direct_rate:.2f} [target ≥ 0.9]", flush=True)

        if args.uploads:
            size = int(args.upload_mb * 1e6)
            sampler = RssSampler(pid)
            sampler.start()
            cpu_before = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
            times, statuses, wall = asyncio.run(concurrent_uploads(url, api_key, args.uploads,
                                                                   size, chunk))
            cpu_after = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
            sampler.stop()
            accepted = sum(1 for s in statuses if s == 202)
            aggregate = args.uploads * size / MB / wall
            median = statistics.median(times)
            print(f"\n{args.uploads} concurrent uploads of {size / MB:.0f} MB: {accepted} "
                  f"accepted (202), others {sorted(s for s in statuses if s != 202)[:10]}; "
                  f"{wall:.1f} s = {aggregate:.0f} MB/s aggregate = "
                  f"{aggregate / direct_rate:.2f} of direct [target ≥ 0.8]")
            print(f"per upload: median {median:.1f} s, slowest {max(times):.1f} s "
                  f"({max(times) / median:.2f}x the median), fastest {min(times):.1f} s; "
                  f"ingest peak RSS {sampler.peak_kb / 1024:.0f} MB [target ≤ 300 MB]; "
                  f"load average {os.getloadavg()[0]:.1f}")
            ingest_cpu, s3_cpu, client_cpu = (b - a for a, b in zip(cpu_before, cpu_after,
                                                                     strict=True))
            print(f"CPU seconds: ingest {ingest_cpu:.1f} (its probes included), S3 gateway "
                  f"(weed) {s3_cpu:.1f}, these clients {client_cpu:.1f}")
        return 0
    finally:
        ingest.stop()
        stack.down()
        # Every run stores gigabytes in its SeaweedFS; left behind they fill the disk (the
        # gateway then answers InternalError).
        shutil.rmtree(STATE, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
