"""Split and stitch: one long video on two chunk workers against one, and the chunked
encode against the unchunked one, side by side in one run.

    .venv/bin/python -m benchmarks.chunks [--seconds 180] [--chunk-seconds 20[,8,...]]
                                          [--dealing returned[,upfront]]
                                          [--renditions 360p,720p,1080p]

Machines are simulated by pinning processes to cores (`taskset`; an ffmpeg child inherits
its parent's affinity). Every worker of the pipeline sits on a simulated machine, so no run
gets a core for free:

  u   unchunked, one machine: `reelflow transcode` (threshold above the clip) and
      `reelflow packager`, both on core 0
  c1  chunked, one machine: the planning transcode (it also encodes the whole video's audio,
      thumbnails, sprite and storyboard while the chunks encode, then stitches), the
      packager and one chunk worker, all on core 0
  c2  chunked, two machines: machine A is c1's (planning transcode, packager, chunk worker
      1 on core 0), machine B holds chunk worker 2 alone (core 1)

Kafka, PostgreSQL and SeaweedFS stay unpinned: they stand for shared services on machines
of their own (their CPU is small beside the encode's, but it does share the two cores).
The scorer is off the time-to-playable path, so it is started only after
`video-transcoded` (unpinned, nothing is timed then), and only in the runs whose quality is
compared (u and the first c2 of each chunk length).

Per run it reports the wall time from `video-uploaded` to `video-transcoded` (broker
timestamps), the CPU of each pipeline process in that window (so the load of each simulated
machine shows), and, for chunked runs, which chunk went to which worker (from
`chunk-encoded`: the worker's pid, the chunk's encode time, when it finished). Then c1/c2
(goal >= 1.8) and per rung the VMAF (rendition-scored) and bitrate (rendition-done) of c2
against u (goals: VMAF within 0.5, bitrate within 5 %). With several chunk lengths, c1 and c2
run for each: the per-chunk overhead is c1's time over u's as the chunk count grows. With
several dealings (`REELFLOW_TRANSCODE_CHUNK_DEALING`: `returned`, the default, deals a job
per partition and then the next one wherever a chunk came back; `upfront` deals every job
at once round the partitions), c2 runs once per dealing. The load average is printed with
the figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.transcode import BENCH_ENV, STATE, Service, load, make_source

#: Machine A's core: the planning transcode, the packager, chunk worker 1. Machine B's: worker 2.
CORE_A, CORE_B = 0, 1


@dataclass
class Run:
    label: str
    chunk_s: float | None
    dealing: str
    worker_cores: tuple[int, ...]
    scored: bool
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    done: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    chunks: list[tuple[Any, float]] = field(default_factory=list)  # (chunk-encoded, at s)
    workers: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> core, parts


def pinned(core: int | None, command: str, marker: str, env: dict[str, str]) -> Service:
    os.environ.update(env)
    try:
        service = Service(command, marker, taskset=None if core is None else str(core))
    finally:
        for name in env:
            os.environ.pop(name, None)
    return service


def assigned_partitions(service: Service) -> str:
    """The worker's last assignment, from its log (the consume loop logs each one)."""
    found = re.findall(r"assigned \[([^\]]*)\]", service.log.read_text(errors="replace"))
    return ",".join(p.rsplit("/", 1)[1].strip("'") for p in found[-1].split(", ")) \
        if found and found[-1] else "-"


async def one_run(run: Run, clip: Path, sha256: str, settings: Any, renditions: list[str],
                  seconds: float) -> Run:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from schemas import (
        ALL_TOPICS,
        CHUNK_ENCODED,
        RENDITION_DONE,
        RENDITION_SCORED,
        VIDEO_TRANSCODED,
        VIDEO_UPLOADED,
    )
    from schemas.events import VideoUploaded
    from services.shared.codec import EventCodec
    from services.shared.kafka_security import client_options
    from services.shared.storage import ObjectStore

    codec = EventCodec(ALL_TOPICS)
    video_id = str(uuid.uuid4())
    store = ObjectStore(settings)
    ref = store.ref(f"sources/{video_id}/original")
    store.put_file(clip, ref, "video/mp4", sha256=sha256)
    chunking = {"REELFLOW_TRANSCODE_CHUNK_THRESHOLD_S":
                str(seconds + 1 if run.chunk_s is None else 0.0),
                "REELFLOW_TRANSCODE_CHUNK_SECONDS": str(run.chunk_s or 20),
                "REELFLOW_TRANSCODE_CHUNK_DEALING": run.dealing}
    services = {"transcode": pinned(CORE_A, "transcode", "'video-uploaded/", chunking),
                "packager": pinned(CORE_A, "packager", "'rendition-done/", {})}
    for n, core in enumerate(run.worker_cores, 1):
        services[f"chunks {n}"] = pinned(core, "chunks", "'chunk-requested/",
                                         {"REELFLOW_CHUNKS_WORK_DIR": str(STATE / f"chunks-{n}")})
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **client_options())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **client_options())
    try:
        for service in services.values():
            await asyncio.to_thread(service.wait_assigned)
        if len(run.worker_cores) > 1:  # both in the group before the jobs are dealt
            await asyncio.sleep(8)
        await consumer.start()
        topics = {t.name: t for t in (RENDITION_DONE, VIDEO_TRANSCODED, RENDITION_SCORED,
                                      CHUNK_ENCODED)}
        parts = [TopicPartition(t.name, p) for t in topics.values() for p in range(t.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await producer.start()
        event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                              occurred_at=datetime.now(UTC), source_uri=ref.uri,
                              source_sha256=sha256, source_size_bytes=clip.stat().st_size,
                              renditions=tuple(renditions) if renditions else None)
        before = {name: s.cpu for name, s in services.items()}
        published = time.time()
        await producer.send_and_wait(VIDEO_UPLOADED.name, codec.encode(VIDEO_UPLOADED, event),
                                     key=video_id.encode())
        playable = False
        deadline = time.monotonic() + 1800  # a stuck run fails instead of holding the machine
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{run.label}: not done after 30 min")
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    fact: Any = codec.decode(topics[tp.topic], record.value)
                    if fact.video_id != video_id:
                        continue
                    at = record.timestamp / 1000 - published
                    if tp.topic == VIDEO_TRANSCODED.name:
                        run.cpu = {n: s.cpu - before[n] for n, s in services.items()}
                        run.wall_s, playable = at, True
                        print(f"  {run.label}: playable after {run.wall_s:.1f} s", flush=True)
                        if run.scored:  # off the path: starts once nothing is timed
                            services["scoring"] = pinned(None, "scoring", "'rendition-done/",
                                                         {"REELFLOW_SCORING_SUBSAMPLE": "15"})
                    elif tp.topic == CHUNK_ENCODED.name:
                        run.chunks.append((fact, at))
                    elif tp.topic == RENDITION_SCORED.name:
                        run.scores[fact.rendition] = fact
                    elif fact.media_type == "VIDEO":
                        run.done[fact.rendition] = fact
            if playable and run.done and (not run.scored or set(run.scores) >= set(run.done)):
                break
            for service in services.values():
                if service.proc.poll() is not None:
                    raise RuntimeError(f"{service.command} died: "
                                       f"{service.log.read_text()[-2000:]}")
        for n, core in enumerate(run.worker_cores, 1):
            service = services[f"chunks {n}"]
            run.workers[f"{socket.gethostname()}/{service.proc.pid}"] = (
                core, assigned_partitions(service))
        return run
    finally:
        for service in services.values():
            service.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await producer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()


def run_lines(run: Run) -> list[str]:
    """The run's time, its processes' CPU, and which worker encoded which chunk (counts,
    encode seconds, when its last one landed)."""
    cpu = ", ".join(f"{n} {s:.1f}" for n, s in run.cpu.items())
    lines = [f"{run.label:<40}{run.wall_s:>11.1f}   {cpu}"]
    for name, (core, parts) in run.workers.items():
        mine = sorted((c for c in run.chunks if c[0].worker == name), key=lambda c: c[0].index)
        busy = sum(c[0].encode_seconds for c in mine)
        last = max((at for _, at in mine), default=0.0)
        lines.append(f"    worker on core {core} (partitions {parts}): {len(mine)} chunks "
                     f"{[c.index for c, _ in mine]}, encoding {busy:.1f} s, last one in at "
                     f"{last:.1f} s")
    if run.chunks:
        last = max(at for _, at in run.chunks)
        lines.append(f"    after the last chunk: stitch, upload, package {run.wall_s - last:.1f} s")
    return lines


def report(runs: list[Run], lengths: list[float]) -> list[str]:
    lines = [f"\n{'run':<40}{'playable s':>11}   CPU s in that window"]
    for run in runs:
        lines += run_lines(run)
    u = runs[0]
    for length in lengths:
        c2s = [r for r in runs if r.chunk_s == length and len(r.worker_cores) == 2]
        c1 = next(r for r in runs if r.chunk_s == length and len(r.worker_cores) == 1)
        lines.append(f"\n{length:g} s chunks ({len(c1.chunks)} chunks): c1 / u (what "
                     f"chunking costs on one machine) {c1.wall_s / u.wall_s:.2f}")
        for c2 in c2s:
            lines.append(f"  c1 / c2, {c2.dealing} dealing (2 machines against 1; goal >= "
                         f"1.8): {c1.wall_s / c2.wall_s:.2f}")
        c2 = c2s[0]
        lines.append(f"{'rung':>6}{'VMAF u':>9}{'VMAF c2':>9}{'diff':>7}"
                     f"{'kb/s u':>9}{'kb/s c2':>9}{'diff %':>8}   (goals: 0.5, 5 %)")
        for name in sorted(u.done, key=lambda n: u.done[n].height or 0):
            vu, vc = u.scores[name].quality.vmaf, c2.scores[name].quality.vmaf
            bu, bc = u.done[name].bitrate / 1000, c2.done[name].bitrate / 1000
            lines.append(f"{name:>6}{vu:>9.2f}{vc:>9.2f}{vc - vu:>+7.2f}"
                         f"{bu:>9.0f}{bc:>9.0f}{100 * (bc - bu) / bu:>+8.1f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="clip length")
    parser.add_argument("--chunk-seconds", default="20",
                        help="chunk length in s; a comma list runs c1 and c2 for each")
    parser.add_argument("--dealing", default="returned",
                        help="chunk dealings to run c2 with (comma list: returned, upfront)")
    parser.add_argument("--renditions", default="",
                        help="comma-separated rungs (default: every rung of the source)")
    options = parser.parse_args()
    os.environ.update(BENCH_ENV)
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
    renditions = [r for r in options.renditions.split(",") if r]
    lengths = [float(x) for x in options.chunk_seconds.split(",") if x]
    dealings = [d for d in options.dealing.split(",") if d]
    runs = [Run("u   unchunked, 1 machine (core 0)", None, dealings[0], (), True)]
    for length in lengths:
        runs += [Run(f"c2  {length:g} s chunks, {dealing}, cores 0 + 1", length, dealing,
                     (CORE_A, CORE_B), n == 0) for n, dealing in enumerate(dealings)]
        runs.append(Run(f"c1  {length:g} s chunks, core 0", length, dealings[0], (CORE_A,),
                        False))
    stack = LocalStack(StackSettings())
    lines: list[str] = []
    try:
        print(f"starting Kafka, PostgreSQL and S3 under {STATE} ...", flush=True)
        stack.up(infra_only=True)
        use_stack_credentials(ADMIN)  # the benchmark's clients and workers: the super user
        clip = make_source(settings.ffmpeg_path, "synthetic", work / "clip.mp4", options.seconds)
        sha = sha256_file(clip)
        lines.append(f"clip: 1920x1080 30 fps {options.seconds:g} s, rungs "
                     f"{renditions or 'all'}; {os.cpu_count()} CPUs; load average {load()} "
                     f"at start ({datetime.now(UTC):%H:%M} UTC)")
        for run in runs:
            print(f"{run.label} ...", flush=True)
            asyncio.run(one_run(run, clip, sha, settings, renditions, options.seconds))
            print("\n".join(run_lines(run)), flush=True)
    finally:
        stack.down()
    lines += report(runs, lengths)
    lines.append(f"load average {load()} at the end ({datetime.now(UTC):%H:%M} UTC)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
