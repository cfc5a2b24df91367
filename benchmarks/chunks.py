"""Split and stitch: one long video on two chunk workers against one, and the chunked
encode against the unchunked one, side by side in one run.

    .venv/bin/python -m benchmarks.chunks [--seconds 180] [--chunk-seconds 20]
                                          [--renditions 360p,720p,1080p]

Two machines are simulated by pinning each chunk worker to a core of its own (`taskset`);
the transcode that plans and stitches, the packager and the scorer run unpinned. On a
generated 1080p30 clip (testsrc2 with a tone) it runs, each on a fresh worker set:

  u   unchunked: one `reelflow transcode` (threshold above the clip) pinned to core 0
  c1  chunked, one chunk worker on core 0
  c2  chunked, two chunk workers, on cores 0 and 1

and reports per run the wall time from `video-uploaded` to `video-transcoded` (broker
timestamps), then c1/c2 (goal >= 1.8), and per rung the VMAF (rendition-scored) and bitrate
(rendition-done) of c2 against u (goals: VMAF within 0.5, bitrate within 5 %). The machine
may be shared: the load average is printed with the figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.transcode import BENCH_ENV, STATE, Service, load, make_source


@dataclass
class Run:
    label: str
    wall_s: float = 0.0
    done: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)


def pinned(core: int | None, command: str, marker: str, env: dict[str, str]) -> Service:
    os.environ.update(env)
    try:
        service = Service(command, marker, taskset=None if core is None else str(core))
    finally:
        for name in env:
            os.environ.pop(name, None)
    return service


async def one_run(label: str, clip: Path, sha256: str, settings: Any, renditions: list[str],
                  chunk_workers: list[int], threshold_s: float, chunk_s: float) -> Run:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from schemas import (
        ALL_TOPICS,
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
    chunking = {"REELFLOW_TRANSCODE_CHUNK_THRESHOLD_S": str(threshold_s),
                "REELFLOW_TRANSCODE_CHUNK_SECONDS": str(chunk_s)}
    # Unchunked, the transcode is the one encoding worker: it gets core 0, as c1's does.
    services = [pinned(0 if not chunk_workers else None, "transcode", "'video-uploaded/",
                       chunking),
                pinned(None, "packager", "'rendition-done/", {}),
                pinned(None, "scoring", "'rendition-done/",
                       {"REELFLOW_SCORING_SUBSAMPLE": "15"}),
                *(pinned(core, "chunks", "'chunk-requested/",
                         {"REELFLOW_CHUNKS_WORK_DIR": str(STATE / f"chunks-{core}")})
                  for core in chunk_workers)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **client_options())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **client_options())
    run = Run(label)
    try:
        for service in services:
            await asyncio.to_thread(service.wait_assigned)
        if len(chunk_workers) > 1:  # both in the group before the jobs are dealt
            await asyncio.sleep(8)
        await consumer.start()
        topics = {t.name: t for t in (RENDITION_DONE, VIDEO_TRANSCODED, RENDITION_SCORED)}
        parts = [TopicPartition(t.name, p) for t in topics.values() for p in range(t.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await producer.start()
        event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                              occurred_at=datetime.now(UTC), source_uri=ref.uri,
                              source_sha256=sha256, source_size_bytes=clip.stat().st_size,
                              renditions=tuple(renditions) if renditions else None)
        published = time.time()
        await producer.send_and_wait(VIDEO_UPLOADED.name, codec.encode(VIDEO_UPLOADED, event),
                                     key=video_id.encode())
        playable = False
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    fact: Any = codec.decode(topics[tp.topic], record.value)
                    if fact.video_id != video_id:
                        continue
                    if tp.topic == VIDEO_TRANSCODED.name:
                        run.wall_s, playable = record.timestamp / 1000 - published, True
                        print(f"  {label}: playable after {run.wall_s:.1f} s", flush=True)
                    elif tp.topic == RENDITION_SCORED.name:
                        run.scores[fact.rendition] = fact
                    elif fact.media_type == "VIDEO":
                        run.done[fact.rendition] = fact
            if playable and run.done and set(run.scores) >= set(run.done):
                return run
            for service in services:
                if service.proc.poll() is not None:
                    raise RuntimeError(f"{service.command} died: "
                                       f"{service.log.read_text()[-2000:]}")
    finally:
        for service in services:
            service.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await producer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="clip length")
    parser.add_argument("--chunk-seconds", type=float, default=20.0)
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
    stack = LocalStack(StackSettings())
    lines: list[str] = []
    try:
        print(f"starting Kafka, PostgreSQL and S3 under {STATE} ...", flush=True)
        stack.up(infra_only=True)
        use_stack_credentials(ADMIN)  # the benchmark's clients and workers: the super user
        clip = make_source(settings.ffmpeg_path, "synthetic", work / "clip.mp4", options.seconds)
        sha = sha256_file(clip)
        lines.append(f"clip: 1920x1080 30 fps {options.seconds:g} s, chunks of "
                     f"{options.chunk_seconds:g} s, rungs {renditions or 'all'}; "
                     f"{os.cpu_count()} CPUs; load average {load()} at start")
        never = options.seconds + 1
        runs = {}
        for label, workers, threshold in (("u   unchunked, 1 transcode on core 0", [], never),
                                          ("c2  chunked, 2 workers on cores 0, 1", [0, 1], 0.0),
                                          ("c1  chunked, 1 worker on core 0", [0], 0.0)):
            print(f"{label} ...", flush=True)
            runs[label[:2].strip()] = asyncio.run(one_run(
                label, clip, sha, settings, renditions, workers, threshold,
                options.chunk_seconds))
    finally:
        stack.down()
    u, c1, c2 = runs["u"], runs["c1"], runs["c2"]
    lines.append(f"\n{'run':<44}{'time to playable s':>20}")
    for run in (u, c1, c2):
        lines.append(f"{run.label:<44}{run.wall_s:>20.1f}")
    lines.append(f"\nc1 / c2 (2 workers against 1; goal >= 1.8): {c1.wall_s / c2.wall_s:.2f}")
    lines.append(f"\n{'rung':>6}{'VMAF u':>9}{'VMAF c2':>9}{'diff':>7}"
                 f"{'kb/s u':>9}{'kb/s c2':>9}{'diff %':>8}   (goals: 0.5, 5 %)")
    for name in sorted(u.done, key=lambda n: u.done[n].height or 0):
        vu, vc = u.scores[name].quality.vmaf, c2.scores[name].quality.vmaf
        bu, bc = u.done[name].bitrate / 1000, c2.done[name].bitrate / 1000
        lines.append(f"{name:>6}{vu:>9.2f}{vc:>9.2f}{vc - vu:>+7.2f}"
                     f"{bu:>9.0f}{bc:>9.0f}{100 * (bc - bu) / bu:>+8.1f}")
    lines.append(f"load average {load()} at the end")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
