"""Time to playable and CPU of the transcode service against bare FFmpeg and against an
honest chain of separate commands, on two generated 1080p sources, in one run.

    .venv/bin/python -m benchmarks.transcode [--seconds 20] [--camera-seconds 10] [--rounds 2]

It starts its own infrastructure (Kafka, PostgreSQL, SeaweedFS; state in `.reelflow-bench/`,
ports 20xxx, so neither a dev stack nor a test slot is touched). Per source:

  a   the service: `reelflow transcode`, `reelflow packager` and `reelflow scoring`, each a
      process; time to playable = from publishing `video-uploaded` until `video-transcoded`
      is on Kafka (broker timestamps); CPU of transcode + packager and their ffmpeg/ffprobe
      children from /proc at that moment, split into each process's own (Python, Kafka
      clients, event loops) and its children's, with what Kafka, PostgreSQL and SeaweedFS
      used in the same window beside it (not in a). a' is the scorer afterwards (off the
      path).
  b   the service's own one-decode encode argv (`build_encode(...).args`) run bare.
  s   where the service's CPU beyond b goes: each stage the worker and the packager run
      around the encode, replayed in this process on b's outputs and timed on its own
      (its ffprobe runs forked from a loaded ffprobe, as the worker's are).
  c   the seed's chain made honest: the same outputs with the same settings, one ffmpeg
      per output (each rung with its audio, the AAC rendition, the MP3, the thumbnails with
      their sprite and storyboard), then the same CMAF packaging.

Sources: `synthetic` (1080p30 testsrc2, decodes almost for free) and `camera` (1080p60,
moving gradients and an inset under strong temporal grain, x264 at a camera's bitrate,
where decoding costs what it costs on real footage). a and b alternate for `--rounds`
rounds (round 1's service job is the first after the stack started; the same x264 argv
varies by about 10 % between runs) and the ratios use their medians, each round's shown
too. Wall times on a shared machine are noisy: the load average is printed with the
figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.proctime import tree_cpu_seconds, tree_cpu_split

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
    # The benchmarks publish video-uploaded themselves and run no lane router: the
    # transcode reads video-uploaded directly.
    "REELFLOW_TRANSCODE_LANES": "false",
    "REELFLOW_PACKAGER_METRICS_PORT": "0",
    "REELFLOW_SCORING_METRICS_PORT": "0",
    "REELFLOW_LOG_LEVEL": "INFO",
}


@dataclass
class Timing:
    label: str
    wall_s: float
    cpu_s: float


# --------------------------------------------------------------------------- helpers


def make_source(ffmpeg: str, kind: str, path: Path, seconds: float) -> Path:
    """`synthetic`: the demo's clip (1080p30 testsrc2, x264 ultrafast CRF 18). `camera`:
    1080p60 gradients with a moving inset under temporal grain, x264 CRF 16 (the grain
    makes that well over 50 Mb/s): the ladder study's camera-like picture at a phone
    camera's frame rate, and a bitrate whose decoding costs what real footage's does."""
    if kind == "synthetic":
        graph = f"testsrc2=size=1920x1080:rate=30:duration={seconds}"
        codec = ["-preset", "ultrafast", "-crf", "18"]
    else:
        graph = (f"gradients=size=1920x1080:rate=60:duration={seconds}:speed=0.03:n=6[bg];"
                 f"testsrc2=size=640x360:rate=60:duration={seconds}[fg];"
                 "[bg][fg]overlay=x='mod(t*384,W-w)':y='(H-h)/2+(H/4)*sin(t*2)',"
                 "noise=alls=14:allf=t+u,format=yuv420p")
        codec = ["-preset", "veryfast", "-crf", "16", "-g", "60"]
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-filter_complex", graph,
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:"
                    f"duration={seconds}",
                    "-c:v", "libx264", *codec, "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-b:a", "128k", "-t", str(seconds), str(path)],
                   check=True, capture_output=True, timeout=1800)
    return path


def cpu_now() -> float:
    """CPU seconds of this process (all its threads) plus its children's, live or reaped
    (the stages' ffprobe runs are the fork server's children)."""
    return tree_cpu_seconds(os.getpid())


@contextlib.contextmanager
def timed(label: str, into: list[Timing]) -> Iterator[None]:
    cpu, started = cpu_now(), time.monotonic()
    yield
    into.append(Timing(label, time.monotonic() - started, cpu_now() - cpu))


def run_commands(commands: list[list[str]]) -> None:
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[:8]}... failed: {done.stderr[-2000:]}")


def infra_cpu() -> dict[str, float]:
    """CPU seconds so far of the stack's Kafka, PostgreSQL and SeaweedFS (with the children
    they reaped), by their pid files."""
    found = {}
    for pid_file in sorted((STATE / "run").glob("*.pid")):
        with contextlib.suppress(OSError, ValueError):
            found[pid_file.stem] = tree_cpu_seconds(int(pid_file.read_text().strip()))
    return found


class Service:
    """One `reelflow <command>` process, logging to the bench state dir."""

    def __init__(self, command: str, ready_marker: str, taskset: str | None = None) -> None:
        self.command, self.ready_marker = command, ready_marker
        self.log = STATE / "logs" / f"bench-{command}-{uuid.uuid4().hex[:6]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # taskset: pinned to these cores (its ffmpeg children inherit the affinity).
        pin = ["taskset", "-c", taskset] if taskset is not None else []
        env = {**os.environ,
               # Unique per run: two live members with one static id fence each other.
               f"REELFLOW_{command.upper()}_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:8]}"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*pin, sys.executable, "-m", "services.cli", command],
                                         env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         cwd=ROOT)

    def wait_assigned(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log.read_text()[-2000:]}")
            if self.ready_marker in self.log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.command} got no partitions: {self.log.read_text()[-2000:]}")

    @property
    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    @property
    def cpu_split(self) -> tuple[float, float]:
        return tree_cpu_split(self.proc.pid)

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


@dataclass
class ServiceRun:
    playable: Timing
    scoring: Timing
    scores: dict[str, Any] = field(default_factory=dict)
    renditions: dict[str, Any] = field(default_factory=dict)
    #: Per process in the playable window: (its own CPU s, its reaped children's).
    split: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Kafka, PostgreSQL and SeaweedFS in the same window.
    infra: dict[str, float] = field(default_factory=dict)


async def service_run(clip: Path, sha256: str, kind: str,
                      settings: Any) -> ServiceRun:
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
    store.put_file(clip, ref, "video/mp4")
    services = [Service("transcode", "'video-uploaded/"), Service("packager", "'rendition-done/"),
                Service("scoring", "'rendition-done/")]
    transcode, packager, scoring = services
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **client_options())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **client_options())
    try:
        for service in services:
            await asyncio.to_thread(service.wait_assigned)
        await consumer.start()
        topics = {t.name: t for t in (RENDITION_DONE, VIDEO_TRANSCODED, RENDITION_SCORED)}
        parts = [TopicPartition(t.name, p) for t in topics.values() for p in range(t.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await producer.start()
        event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                              occurred_at=datetime.now(UTC), source_uri=ref.uri,
                              source_sha256=sha256, source_size_bytes=clip.stat().st_size)
        before = {s.command: s.cpu for s in services}
        before_split = {s.command: s.cpu_split for s in (transcode, packager)}
        before_infra = infra_cpu()
        published = time.time()
        await producer.send_and_wait(VIDEO_UPLOADED.name, codec.encode(VIDEO_UPLOADED, event),
                                     key=video_id.encode())
        run = ServiceRun(Timing("", 0, 0), Timing("", 0, 0))
        playable_ms = last_score_ms = 0
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    fact: Any = codec.decode(topics[tp.topic], record.value)
                    if fact.video_id != video_id:
                        continue
                    if tp.topic == VIDEO_TRANSCODED.name:
                        playable_ms = record.timestamp
                        cpu = (transcode.cpu - before["transcode"]
                               + packager.cpu - before["packager"])
                        run.playable = Timing(f"a  service, time to playable ({kind})",
                                              playable_ms / 1000 - published, cpu)
                        run.infra = {n: c - before_infra.get(n, 0.0)
                                     for n, c in infra_cpu().items()}
                        for s in (transcode, packager):
                            now_own, now_kids = s.cpu_split
                            own, kids = before_split[s.command]
                            run.split[s.command] = (now_own - own, now_kids - kids)
                    elif tp.topic == RENDITION_SCORED.name:
                        run.scores[fact.rendition] = fact
                        last_score_ms = max(last_score_ms, record.timestamp)
                    elif fact.media_type == "VIDEO":
                        run.renditions[fact.rendition] = fact
            if playable_ms and run.renditions and set(run.scores) >= set(run.renditions):
                break
            for service in services:
                if service.proc.poll() is not None:
                    raise RuntimeError(f"{service.command} died: "
                                       f"{service.log.read_text()[-2000:]}")
        run.scoring = Timing("a' scoring, after playable", (last_score_ms - playable_ms) / 1000,
                             scoring.cpu - before["scoring"])
        return run
    finally:
        for service in services:
            service.stop()  # first: nothing below may leave one running
        # aiokafka 0.14 can surface an internal task's CancelledError from stop().
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await producer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()


# --------------------------------------------------------------------------- b and s


async def bare_and_stages(clip: Path, sha256: str, work: Path,
                          settings: Any) -> tuple[Timing, list[Timing]]:
    """b, then every stage the service runs around that encode (s), each timed alone,
    with ffprobe served by a fork server as in the service."""
    from services.shared.media import forkserver

    async with forkserver.serve(settings.ffprobe_path):
        return await _bare_and_stages(clip, sha256, work, settings)


async def _bare_and_stages(clip: Path, sha256: str, work: Path,
                           settings: Any) -> tuple[Timing, list[Timing]]:
    from services.packager import cmaf
    from services.packager.package import RenditionInput, package_renditions
    from services.shared.media.probing import inspect_source, probe_output
    from services.shared.media.process import ffmpeg_argv
    from services.shared.settings import SourceLimits
    from services.shared.storage import FileUpload, ObjectStore
    from services.transcode import thumbnails as thumbs
    from services.transcode.encode import THUMBNAIL_DIR, build_encode, sha256_file
    from services.transcode.ladder import AUDIO, plan_ladder
    from services.transcode.profiles import get_profile

    store = ObjectStore(settings)
    stages: list[Timing] = []
    source = store.ref(f"sources/bench-{uuid.uuid4()}/original")
    store.put_file(clip, source, "video/mp4", sha256=sha256)
    local = work / "source"
    with timed("s  fetch source (S3 get + SHA-256)", stages):
        store.download(source, local, sha256)
    with timed("s  inspect source (ffprobe + decode check)", stages):
        facts = await inspect_source(local, settings, SourceLimits())
    plan = plan_ladder(facts, get_profile(None))
    out = work / "bare"
    job = build_encode(local, out, plan, facts)
    (out / THUMBNAIL_DIR / thumbs.TILE_DIR).mkdir(parents=True, exist_ok=True)
    bare: list[Timing] = []
    with timed("b  bare one-decode encode", bare):
        run_commands([ffmpeg_argv(job.args, settings)])
    files = {name: path for name, path in job.files.items() if path.is_file()}
    with timed("s  describe: ffprobe of each output", stages):
        for path in files.values():
            await probe_output(path, settings)
    with timed("s  describe: SHA-256 of each output", stages):
        hashes = {name: sha256_file(path) for name, path in files.items()}
    assert job.thumbnails is not None
    folder = job.files["thumbnails"]
    with timed("s  thumbnails: stills, sprite (ffmpeg), storyboard", stages):
        thumbs.collect_stills(job.thumbnails, folder)
        tiles = await thumbs.assemble_sprite(job.thumbnails, folder, settings)
        (folder / thumbs.STORYBOARD).write_text(
            thumbs.storyboard_vtt(job.thumbnails, tiles, facts.video_duration))
    pictures = sorted(p for p in folder.iterdir() if p.is_file())
    prefix = f"renditions/bench-{uuid.uuid4()}/1"
    with timed("s  upload outputs (S3 puts at once, hashes known)", stages):
        store.put_files(
            [FileUpload(path, store.ref(f"{prefix}/{path.name}"), "video/mp4", None,
                        hashes[name]) for name, path in files.items()]
            + [FileUpload(path, store.ref(f"{prefix}/thumbnails/{path.name}"), "image/jpeg")
               for path in pictures])
    cut = [n for n in files if n in {t.name for t in plan.videos} or n == AUDIO]
    fetched = work / "fetched"
    fetched.mkdir()
    with timed("s  packager: fetch + verify renditions", stages):
        for name in cut:
            store.download(store.ref(f"{prefix}/{files[name].name}"),
                           fetched / files[name].name, hashes[name])
    inputs = [RenditionInput(name=n, path=fetched / files[n].name,
                             media_type="AUDIO" if n == AUDIO else "VIDEO",
                             **_rung_shape(plan, n)) for n in cut]
    with timed("s  packager: CMAF cut (-c copy) + manifests", stages):
        # In a thread, as the packager runs it: its ffmpeg runner blocks.
        result = await asyncio.to_thread(package_renditions, inputs, work / "package",
                                         run_ffmpeg=cmaf.blocking_runner(settings))
    with timed("s  packager: upload package (S3 puts at once)", stages):
        store.put_files([FileUpload(result.out_dir / f.path,
                                    store.ref(f"packages/bench/{f.path}"), f.content_type)
                         for f in result.files])
    return bare[0], stages


def _rung_shape(plan: Any, name: str) -> dict[str, Any]:
    for target in plan.videos:
        if target.name == name:
            return {"width": target.width, "height": target.height,
                    "frame_rate": float(plan.frame_rate)}
    return {}


# --------------------------------------------------------------------------- c: chain


def chain_commands(source: Path, out: Path, settings: Any, facts: Any,
                   plan: Any) -> tuple[list[list[str]], Any]:
    """One ffmpeg per output, each with the service's own settings for it (the filters,
    rung options, audio options and thumbnail graph of `build_encode`)."""
    import ffmpeg

    from services.shared.media.process import ffmpeg_argv
    from services.transcode import encode
    from services.transcode import thumbnails as thumbs

    inp = ffmpeg.input(str(source))
    video = inp[str(facts.video.index)]
    audio = inp[str(facts.audio.index)]
    channels = 1 if facts.audio.channels == 1 else 2
    commands = []
    for target in plan.videos:  # FR-2.2: one full decode + encode per rendition
        picture = encode.rung_picture(encode.source_picture(video, facts, plan), target)
        options = {**encode._video_options(plan.profile, target, plan), **encode._MP4,
                   **encode._audio_options(target.rung.audio_kbps, target.rung.audio_rate,
                                           channels)}
        commands.append(ffmpeg.output(picture, audio, str(out / f"{target.name}.mp4"),
                                      **options).get_args())
    commands.append(ffmpeg.output(audio, str(out / "audio.m4a"), **encode._MP4,
                                  **encode._audio_options(plan.audio.kbps, plan.audio.rate,
                                                          channels)).get_args())
    commands.append(ffmpeg.output(audio, str(out / "audio.mp3"), f="mp3", **encode._CLEAN,
                                  **encode._audio_options(plan.mp3.kbps, plan.mp3.rate, channels,
                                                          plan.mp3.encoder)).get_args())
    top = max(plan.videos, key=lambda v: v.width * v.height)
    thumb_plan = thumbs.plan_thumbnails(plan.profile.pictures, plan.frame_rate,
                                        facts.video_duration, (top.width, top.height))
    branches = encode.source_picture(video, facts, plan).filter_multi_output("split", 3)
    folder = out / "thumbnails"
    (folder / thumbs.TILE_DIR).mkdir(parents=True, exist_ok=True)
    commands.append(ffmpeg.merge_outputs(*thumbs.thumbnail_outputs(
        [branches[0], branches[1], branches[2]], thumb_plan, folder)).get_args())
    return [ffmpeg_argv(c, settings) for c in commands], thumb_plan


async def seed_chain(source: Path, work: Path, settings: Any) -> Timing:
    from services.packager import cmaf
    from services.packager.package import RenditionInput, package_renditions
    from services.shared.media.probing import probe
    from services.transcode import thumbnails as thumbs
    from services.transcode.ladder import plan_ladder
    from services.transcode.profiles import get_profile

    facts = await probe(source, settings)
    plan = plan_ladder(facts, get_profile(None))
    out = work / "chain"
    out.mkdir(parents=True)
    commands, thumb_plan = chain_commands(source, out, settings, facts, plan)
    timings: list[Timing] = []
    with timed("c  chain: same outputs, one decode each", timings):
        run_commands(commands)
        folder = out / "thumbnails"
        thumbs.collect_stills(thumb_plan, folder)
        tiles = await thumbs.assemble_sprite(thumb_plan, folder, settings)
        (folder / thumbs.STORYBOARD).write_text(
            thumbs.storyboard_vtt(thumb_plan, tiles, facts.video_duration))
        inputs = [RenditionInput(name=t.name, path=out / f"{t.name}.mp4", media_type="VIDEO",
                                 width=t.width, height=t.height) for t in plan.videos]
        inputs.append(RenditionInput(name="audio", path=out / "audio.m4a", media_type="AUDIO"))
        await asyncio.to_thread(package_renditions, inputs, out / "package",
                                run_ffmpeg=cmaf.blocking_runner(settings))
    return timings[0]


# --------------------------------------------------------------------------- main


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _median_timing(label: str, rows: list[Timing]) -> Timing:
    return Timing(label, statistics.median(r.wall_s for r in rows),
                  statistics.median(r.cpu_s for r in rows))


def measure(kind: str, seconds: float, settings: Any, work: Path,
            report: Callable[[str], None], rounds: int = 2) -> None:
    from services.transcode.encode import sha256_file

    folder = work / kind
    folder.mkdir(parents=True)
    clip = make_source(settings.ffmpeg_path, kind, folder / "clip.mp4", seconds)
    sha = sha256_file(clip)
    started_load = load()
    report(f"\n## {kind}: 1920x1080, {seconds:g} s, "
           f"{clip.stat().st_size * 8 / seconds / 1e6:.1f} Mb/s source; "
           f"{os.cpu_count()} CPUs; load average {started_load} at start")
    # a and b alternate, round after round: the same x264 argv varies by ~10 % from run to
    # run, and round 1's service job is the first after the stack started.
    pairs: list[tuple[ServiceRun, Timing]] = []
    for n in range(1, rounds + 1):
        print(f"{kind}: round {n} of {rounds}: a service ...", flush=True)
        service = asyncio.run(service_run(clip, sha, kind, settings))
        print(f"{kind}: round {n} of {rounds}: b bare encode, s stages ...", flush=True)
        round_dir = folder / f"round-{n}"
        round_dir.mkdir()
        bare, stages = asyncio.run(bare_and_stages(clip, sha, round_dir, settings))
        pairs.append((service, bare))
    print(f"{kind}: c chain ...", flush=True)
    chain = asyncio.run(seed_chain(clip, folder, settings))
    a = _median_timing("a  service, time to playable, median", [s.playable for s, _ in pairs])
    bare = _median_timing("b  bare one-decode encode, median", [b for _, b in pairs])
    report(f"\n{'run':<52}{'wall s':>8}{'CPU s':>8}")
    for n, (service, bare_n) in enumerate(pairs, 1):
        first = " (first job after start)" if n == 1 else ""
        for row in (service.playable, service.scoring, bare_n):
            report(f"{row.label + ', round ' + str(n) + first:<52}{row.wall_s:>8.1f}"
                   f"{row.cpu_s:>8.1f}")
    for row in (a, bare, chain):
        report(f"{row.label:<52}{row.wall_s:>8.1f}{row.cpu_s:>8.1f}")
    report(f"\n{'ratio':<52}{'wall':>8}{'CPU':>8}   goal")
    for n, (service, bare_n) in enumerate(pairs, 1):
        report(f"{'a / b   round ' + str(n):<52}"
               f"{service.playable.wall_s / bare_n.wall_s:>8.2f}"
               f"{service.playable.cpu_s / bare_n.cpu_s:>8.2f}")
    # The service's own time, x264's spread taken out: time to playable less the service's
    # encode itself (rendition-done's encode_seconds: the ffmpeg run alone).
    around = [s.playable.wall_s - max(r.encode_seconds for r in s.renditions.values())
              for s, _ in pairs]
    report(f"{'time around the encode, s (a - its own ffmpeg run)':<52}"
           + "".join(f"{x:>8.1f}" for x in around))
    report(f"{'(b + that) / b, medians':<52}"
           f"{(bare.wall_s + statistics.median(around)) / bare.wall_s:>8.2f}"
           f"{'':>8}   wall <= 1.05")
    for name, num, den, goal in (
            ("a / b   time to playable / bare encode, medians", a, bare,
             "wall <= 1.05, CPU <= 1.10"),
            ("c / a   honest chain / service", chain, a, ""),
            ("c / b   honest chain / bare one-decode encode", chain, bare, "")):
        report(f"{name:<52}{num.wall_s / den.wall_s:>8.2f}{num.cpu_s / den.cpu_s:>8.2f}"
               f"   {goal}")
    report(f"\nwhere the service's CPU beyond b goes (a - b = {a.cpu_s - bare.cpu_s:.1f} s):")
    for row in stages:
        report(f"  {row.label[3:]:<50}{row.wall_s:>8.2f}{row.cpu_s:>8.2f}")
    rest = a.cpu_s - bare.cpu_s - sum(s.cpu_s for s in stages)
    report(f"  {'the rest (Kafka clients, event loops, progress)':<50}{'':>8}{rest:>8.2f}")
    report("  a's CPU by process: " + "; ".join(
        f"{name} {own:.2f} in Python, {kids:.2f} in its ffmpeg/ffprobe children"
        for name, (own, kids) in service.split.items()))
    report("  meanwhile, not in a (shared services): " + ", ".join(
        f"{name} {cpu:.2f}" for name, cpu in service.infra.items()))
    report("\nquality, from rendition-scored (after playable):")
    for name, fact in sorted(service.scores.items(),
                             key=lambda kv: service.renditions[kv[0]].height or 0):
        q, done = fact.quality, service.renditions[name]
        report(f"  {name:>6}  {done.width}x{done.height}  {done.bitrate / 1000:>7.0f} kb/s  "
               f"VMAF {q.vmaf:.2f}  PSNR {q.psnr:.2f}  SSIM {q.ssim:.4f}  "
               f"({q.frames_scored} frames)")
    report(f"load average {load()} at the end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="synthetic clip length")
    parser.add_argument("--camera-seconds", type=float, default=10.0,
                        help="camera-like clip length (0: skip it)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="a and b alternate this many times; ratios use the medians")
    options = parser.parse_args()
    os.environ.update(BENCH_ENV)
    # The client retries while the broker starts; its connection errors are not results.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    from schemas.principals import ADMIN
    from services.shared.kafka_security import use_stack_credentials
    from services.shared.settings import CommonSettings
    from services.stack import LocalStack, StackSettings

    settings = CommonSettings()
    if STATE.exists():
        shutil.rmtree(STATE)
    work = STATE / "bench"
    work.mkdir(parents=True)
    lines: list[str] = []
    stack = LocalStack(StackSettings())
    try:
        print(f"starting Kafka, PostgreSQL and S3 under {STATE} ...", flush=True)
        stack.up(infra_only=True)
        use_stack_credentials(ADMIN)  # the benchmark's clients and workers: the super user
        measure("synthetic", options.seconds, settings, work, lines.append, options.rounds)
        if options.camera_seconds:
            measure("camera", options.camera_seconds, settings, work, lines.append,
                    options.rounds)
    finally:
        stack.down()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
