"""Ingest upload throughput and memory: `python -m benchmarks.ingest [--gb 2]`.

Starts its own infrastructure (Kafka, PostgreSQL, SeaweedFS S3 under `.reelflow-bench-ingest/`,
on ports no dev stack or test slot uses) and ONE ingest process, then streams a generated
body of `--gb` GB over loopback HTTP to `POST /api/v1/videos`. The body is produced on the
fly (never stored), so disk speed plays no part.

The body is not a video, so ingest refuses it (`not_media`) at probe time, *after* the
whole body went through the streaming multipart parser and the S3 multipart upload; what
is measured is exactly that streaming upload phase, which is where size matters (probing
reads only the head of a source). Ingest's RSS is sampled from /proc every 50 ms.

Targets from the issue: peak RSS < 150 MB, >= 150 MB/s on loopback. Figures are printed,
never asserted: on a shared 2-core box they are noisy.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def generated_body(total: int, boundary: str, sent: list[float]) -> Iterator[bytes]:
    """A multipart body whose file part is `total` random-ish bytes made on the fly.

    One random block is reused with a changing counter in front, so no two blocks are equal
    (nothing downstream can deduplicate) without paying for `total` bytes of urandom.
    """
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"bench.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    base = os.urandom(BLOCK)
    left, counter = total, 0
    while left > 0:
        size = min(BLOCK, left)
        yield counter.to_bytes(8, "little") + base[8:size] if size > 8 else base[:size]
        counter += 1
        left -= size
    sent.append(time.perf_counter())
    yield f"\r\n--{boundary}--\r\n".encode()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="body size in GB (10^9 bytes)")
    args = parser.parse_args()
    os.environ.update(BENCH_ENV)
    # The stack's Kafka health probe logs every refused connection while the broker starts.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    # Imported after the environment is set: settings objects read it when built.
    import httpx

    from services.stack import LocalStack, StackSettings
    from services.stack.admin_key import ensure_admin_key

    total = int(args.gb * 1e9)
    stack = LocalStack(StackSettings())
    ingest = stack.component("ingest")
    t0 = time.perf_counter()
    try:
        stack.up(infra_only=True)
        ingest.start()
        deadline = time.monotonic() + 120
        while not ingest.healthy():
            if time.monotonic() > deadline or ingest.process.pid is None:
                raise SystemExit(f"ingest did not start; see {ingest.process.log_file}")
            time.sleep(0.5)
        print(f"infrastructure and ingest up in {time.perf_counter() - t0:.1f} s "
              f"(state {STATE})")
        pid = ingest.process.pid
        assert pid is not None
        sampler = RssSampler(pid)
        idle_mb = sampler.field_kb("VmRSS") / 1024
        sampler.start()
        boundary = "reelflow-bench-boundary"
        head_len = len(next(generated_body(0, boundary, [])))
        tail_len = len(f"\r\n--{boundary}--\r\n")
        sent: list[float] = []
        s3_pid = stack.s3.process.pid
        cpu_before = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
        start = time.perf_counter()
        reply = httpx.post(
            f"{ingest.address}/api/v1/videos", content=generated_body(total, boundary, sent),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Content-Length": str(head_len + total + tail_len),
                     "X-API-Key": ensure_admin_key(stack.settings.common)},
            timeout=httpx.Timeout(900, connect=10),
        )
        answered = time.perf_counter()
        cpu_after = cpu_seconds(pid), cpu_seconds(s3_pid), time.process_time()
        sampler.stop()
        hwm_mb = sampler.field_kb("VmHWM") / 1024
        upload_s = (sent[0] if sent else answered) - start
        print(f"body: {total / MB:,.0f} MB generated on the fly, streamed over loopback HTTP")
        print(f"ingest answered {reply.status_code} {reply.text[:160]}")
        print(f"upload phase (first byte to last byte accepted by ingest): {upload_s:.1f} s "
              f"= {total / MB / upload_s:.0f} MB/s   [target >= 150 MB/s]")
        print(f"request total incl. completing the S3 object, probe, refusal and delete: "
              f"{answered - start:.1f} s = {total / MB / (answered - start):.0f} MB/s")
        print(f"ingest RSS: idle {idle_mb:.0f} MB, peak during upload {sampler.peak_kb / 1024:.0f}"
              f" MB ({sampler.samples} samples every 50 ms), VmHWM {hwm_mb:.0f} MB   "
              f"[target < 150 MB]")
        ingest_cpu, s3_cpu, client_cpu = (b - a for a, b in zip(cpu_before, cpu_after,
                                                                 strict=True))
        print(f"CPU seconds during the request: ingest {ingest_cpu:.1f}, S3 gateway (weed) "
              f"{s3_cpu:.1f}, this client {client_cpu:.1f}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return 0
    finally:
        ingest.stop()
        stack.down()


if __name__ == "__main__":
    raise SystemExit(main())
