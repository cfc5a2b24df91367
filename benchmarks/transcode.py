"""How much the transcode service costs over bare FFmpeg, and what it saves over the seed's
chain of separate commands, measured on one generated 1080p clip in one run.

    .venv/bin/python -m benchmarks.transcode [--seconds 20]

It starts its own infrastructure (Kafka, PostgreSQL, SeaweedFS; state in `.reelflow-bench/`,
ports 20xxx, so neither a dev stack nor a test slot is touched), then measures:

  a  the service: one `reelflow transcode` process; time from publishing `video-uploaded`
     until the last `rendition-done` is on Kafka (broker timestamps), CPU of the worker and
     its ffmpeg/ffprobe children from /proc. Run twice: quality scoring on, and off.
  b  the service's own one-decode encode argv (`build_encode(...).args`) run bare with the
     same binary, plus its quality-scoring argv (`build_scoring`) run bare.
  c  the seed's chain (seed 002 §3.2, FR-2.2/2.3): one ffmpeg per rendition at 360p/720p/
     1080p, an MP3 extraction, an HLS remux per rendition and five thumbnail seeks.

Wall times on a shared machine are noisy; CPU seconds and ratios are the telling figures.
Nothing here asserts: it prints a table. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".reelflow-bench"
# Below the ephemeral port range (SeaweedFS also binds port + 10000) and clear of the
# dev stack (18xxx/19xxx) and the test slots (21xxx-25xxx).
BENCH_ENV = {
    "REELFLOW_STATE_DIR": str(STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:20092",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": "20093",
    "REELFLOW_PG_DSN": "host=127.0.0.1 port=20432 dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": "http://127.0.0.1:20333",
    "REELFLOW_STACK_WEED_MASTER_PORT": "20334",
    "REELFLOW_STACK_WEED_VOLUME_PORT": "20080",
    "REELFLOW_STACK_WEED_FILER_PORT": "20888",
    "REELFLOW_TRANSCODE_METRICS_PORT": "0",
    "REELFLOW_LOG_LEVEL": "INFO",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    label: str
    wall_s: float
    cpu_s: float
    #: Of `cpu_s`, the worker's own Python (the rest is its ffmpeg/ffprobe children).
    own_cpu_s: float | None = None


# --------------------------------------------------------------------------- helpers


def make_clip(ffmpeg: str, path: Path, seconds: float) -> Path:
    """The demo's kind of clip: 1080p30 `testsrc2` with a 440 Hz tone (tests/media.py's
    recipe, copied because benchmarks do not import tests)."""
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:"
                    f"duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-b:a", "128k", "-t", str(seconds), str(path)],
                   check=True, capture_output=True, timeout=600)
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(label: str, commands: list[list[str]]) -> Timing:
    """Run `commands` one after another; wall time and the CPU of the reaped children."""
    cpu, started = children_cpu(), time.monotonic()
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"{label}: {argv[:8]}... failed: {done.stderr[-2000:]}")
    return Timing(label, time.monotonic() - started, children_cpu() - cpu)


def process_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of a live process plus the children it has reaped (its ffmpeg runs), and
    of the process alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After ')': state=0 ... utime=11 stime=12 cutime=13 cstime=14.
    return (sum(int(x) for x in fields[11:15]) / CLK_TCK,
            sum(int(x) for x in fields[11:13]) / CLK_TCK)


class Worker:
    """One `reelflow transcode` process, logging to the bench state dir."""

    def __init__(self, name: str, score_quality: bool) -> None:
        self.log = STATE / "logs" / f"bench-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "REELFLOW_TRANSCODE_SCORE_QUALITY": str(score_quality).lower(),
               # Unique per run: two live members with one static id fence each other.
               "REELFLOW_TRANSCODE_INSTANCE_ID": f"bench-{name}-{uuid.uuid4().hex[:8]}"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "transcode"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         cwd=ROOT)

    def wait_assigned(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            if "'video-uploaded/" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"worker got no partitions: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# --------------------------------------------------------------------------- a: service


async def service_run(clip: Path, sha256: str, label: str, score_quality: bool,
                      settings) -> tuple[Timing, list[Any]]:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from schemas import ALL_TOPICS, RENDITION_DONE, VIDEO_UPLOADED
    from schemas.events import RenditionDone, VideoUploaded
    from services.shared.codec import EventCodec
    from services.shared.kafka_security import client_options
    from services.shared.storage import ObjectStore

    codec = EventCodec(ALL_TOPICS)
    video_id = str(uuid.uuid4())
    store = ObjectStore(settings)
    ref = store.ref(f"sources/{video_id}/original")
    store.put_file(clip, ref, "video/mp4")
    worker = Worker(label.split()[0], score_quality)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **client_options())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **client_options())
    try:
        await asyncio.to_thread(worker.wait_assigned)
        await consumer.start()
        parts = [TopicPartition(RENDITION_DONE.name, p)
                 for p in range(RENDITION_DONE.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await producer.start()
        event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                              occurred_at=datetime.now(UTC), source_uri=ref.uri,
                              source_sha256=sha256, source_size_bytes=clip.stat().st_size)
        cpu_before = process_cpu(worker.proc.pid)
        published = time.time()
        await producer.send_and_wait(VIDEO_UPLOADED.name, codec.encode(VIDEO_UPLOADED, event),
                                     key=video_id.encode())
        done: dict[str, RenditionDone] = {}
        last_ms = 0
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    fact = codec.decode(RENDITION_DONE, record.value)
                    if fact.video_id == video_id:
                        done[fact.rendition] = fact
                        last_ms = max(last_ms, record.timestamp)
            if done and set(next(iter(done.values())).expected_renditions) <= set(done):
                break
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker died: {worker.log.read_text()[-2000:]}")
        cpu, own = (after - before for after, before in
                    zip(process_cpu(worker.proc.pid), cpu_before, strict=True))
        return Timing(label, last_ms / 1000 - published, cpu, own), list(done.values())
    finally:
        worker.stop()  # first: nothing below may leave it running
        # aiokafka 0.14 can surface an internal task's CancelledError from stop().
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await producer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()


# --------------------------------------------------------------------------- b: bare


async def bare_runs(clip: Path, work: Path, settings) -> tuple[Timing, Timing]:  # type: ignore[no-untyped-def]
    from services.shared.media.probing import probe
    from services.shared.media.process import ffmpeg_argv
    from services.transcode.encode import (
        THUMBNAIL_DIR,
        EncodeResult,
        build_encode,
        describe_outputs,
    )
    from services.transcode.ladder import plan_ladder
    from services.transcode.profiles import get_profile
    from services.transcode.quality import build_scoring
    from services.transcode.thumbnails import TILE_DIR

    facts = await probe(clip, settings)
    plan = plan_ladder(facts, get_profile(None))
    out = work / "bare"
    job = build_encode(clip, out, plan, facts)
    (out / THUMBNAIL_DIR / TILE_DIR).mkdir(parents=True, exist_ok=True)
    encode = run_timed("b  bare one-decode encode", [ffmpeg_argv(job.args, settings)])
    # Describing the outputs is not timed: the scoring graph only needs their names/paths.
    result = EncodeResult(await describe_outputs(job, plan, facts, settings), encode.wall_s, "")
    (work / "quality").mkdir(parents=True, exist_ok=True)
    args, _ = build_scoring(clip, result, plan, facts, work / "quality")
    scoring = run_timed("b' bare quality scoring", [ffmpeg_argv(args, settings,
                                                                loglevel="info")])
    return encode, scoring


# --------------------------------------------------------------------------- c: seed chain


def seed_chain(ffmpeg: str, clip: Path, work: Path, seconds: float, mp3_kbps: int) -> Timing:
    out = work / "seed"
    out.mkdir(parents=True, exist_ok=True)
    base = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    commands = []
    heights = (360, 720, 1080)
    for h in heights:  # FR-2.2: one full decode + encode per rendition
        commands.append([*base, "-i", str(clip), "-vf", f"scale=-2:{h}", "-c:v", "libx264",
                         "-preset", "medium", "-crf", "23", "-profile:v", "main", "-level",
                         "3.1", "-movflags", "+faststart", "-c:a", "aac", "-b:a", "96k",
                         "-ar", "44100", str(out / f"{h}p.mp4")])
    commands.append([*base, "-i", str(clip), "-vn", "-c:a", "libmp3lame", "-b:a",
                     f"{mp3_kbps}k", str(out / "audio.mp3")])
    for h in heights:  # FR-2.3: HLS by remuxing each rendition
        (out / f"hls{h}").mkdir(exist_ok=True)
        commands.append([*base, "-i", str(out / f"{h}p.mp4"), "-codec:", "copy", "-hls_time",
                         "10", "-hls_list_size", "0", "-f", "hls",
                         str(out / f"hls{h}" / "index.m3u8")])
    for i, share in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):  # five separate thumbnail seeks
        commands.append([*base, "-ss", f"{seconds * share:.2f}", "-i", str(clip),
                         "-frames:v", "1", "-q:v", "2", str(out / f"thumb_{i}.jpg")])
    return run_timed("c  seed chain of commands", commands)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (>= 20)")
    options = parser.parse_args()
    os.environ.update(BENCH_ENV)
    # The client retries while the broker starts; its connection errors are not results.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    from schemas.principals import ADMIN
    from services.shared.kafka_security import use_stack_credentials
    from services.shared.settings import CommonSettings
    from services.stack import LocalStack, StackSettings
    from services.transcode.encode import sha256_file

    settings = CommonSettings()
    if STATE.exists():
        shutil.rmtree(STATE)
    work = STATE / "bench"
    work.mkdir(parents=True)
    stack = LocalStack(StackSettings())
    try:
        print(f"starting Kafka, PostgreSQL and S3 under {STATE} ...", flush=True)
        stack.up(infra_only=True)
        use_stack_credentials(ADMIN)  # the benchmark's clients and workers: the super user
        clip = make_clip(settings.ffmpeg_path, work / "clip.mp4", options.seconds)
        sha = sha256_file(clip)
        print(f"clip: 1920x1080 30 fps, {options.seconds:g} s, AAC, "
              f"{clip.stat().st_size / 1e6:.1f} MB; {os.cpu_count()} CPUs", flush=True)

        print("a: service, scoring on ...", flush=True)
        a_scored, facts = asyncio.run(service_run(clip, sha, "a  service (scoring on)", True,
                                                  settings))
        print("a: service, scoring off ...", flush=True)
        a_plain, _ = asyncio.run(service_run(clip, sha, "a0 service (scoring off)", False,
                                             settings))
        print("b: bare encode and scoring ...", flush=True)
        b, b_score = asyncio.run(bare_runs(clip, work, settings))
        mp3 = next((f for f in facts if f.rendition == "mp3"), None)
        mp3_kbps = round(mp3.bitrate / 1000) if mp3 else 128
        print("c: seed chain ...", flush=True)
        c = seed_chain(settings.ffmpeg_path, clip, work, options.seconds, mp3_kbps)
    finally:
        stack.down()

    rows = [a_scored, a_plain, b, b_score, c]
    print()
    print(f"{'run':<30}{'wall s':>9}{'CPU s':>9}{'of which Python':>17}")
    for row in rows:
        own = f"{row.own_cpu_s:>17.1f}" if row.own_cpu_s is not None else ""
        print(f"{row.label:<30}{row.wall_s:>9.1f}{row.cpu_s:>9.1f}{own}")
    b_total = Timing("b+b'", b.wall_s + b_score.wall_s, b.cpu_s + b_score.cpu_s)
    print()
    print(f"{'ratio':<42}{'wall':>7}{'CPU':>7}")
    for name, num, den in (("a/b  including scoring  (a / (b + b'))", a_scored, b_total),
                           ("a/b  excluding scoring  (a0 / b)", a_plain, b),
                           ("c/a  seed chain vs service, no scoring (c / a0)", c, a_plain),
                           ("c/a  seed chain vs service with scoring (c / a)", c, a_scored)):
        print(f"{name:<48}{num.wall_s / den.wall_s:>6.2f}{num.cpu_s / den.cpu_s:>7.2f}")
    print()
    print("quality from the service's rendition-done events (scoring on):")
    for fact in sorted(facts, key=lambda f: (f.height or 0, f.rendition)):
        quality = fact.quality
        if fact.media_type == "VIDEO" and quality:
            print(f"  {fact.rendition:>6}  {fact.width}x{fact.height}  "
                  f"{fact.bitrate / 1000:>7.0f} kb/s  VMAF {quality.vmaf:.2f}  "
                  f"PSNR {quality.psnr:.2f}  SSIM {quality.ssim:.4f}  "
                  f"({quality.frames_scored} frames)")
    print("\nseed chain outputs were not scored (c is a cost baseline only).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
