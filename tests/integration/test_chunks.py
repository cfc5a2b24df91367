"""Split and stitch on the real stack (issue 16): a video over the chunk threshold is encoded
by group `chunks` chunk by chunk and stitched into one package with no gap and no missing
segment; its quality is scored per chunk; a reprocess with another profile is chunked too;
more chunks than partitions are dealt as chunks come back; a chunk worker SIGKILLed
mid-video loses at most the chunk it was encoding; and a cancelled video's queued chunks
are skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import ALL_TOPICS, CHUNK_ENCODED, CHUNK_REQUESTED
from schemas.layout import CHUNK_MANIFEST, chunk_prefix
from services.shared.codec import EventCodec
from services.shared.settings import CommonSettings
from tests.access import admin_headers
from tests.chunking import checkpoints, chunk_jobs, chunking, committed
from tests.integration.test_cancel import cancel
from tests.integration.test_pipeline import (
    CATALOG,
    INGEST,
    submit,
    wait_for_scores,
    wait_for_status,
)
from tests.media import make_clip
from tests.polling import wait_until
from tests.slot import TEST_STATE
from tests.topics import records

# Slow: chunked videos (and a SIGKILL and a reprocess of one) take minutes on 2 cores;
# `./run slow` runs them.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FPS = 25  # make_clip's rate


@pytest.fixture(scope="module")
def chunked(pipeline: Any) -> Any:
    with chunking(pipeline):
        yield pipeline


def timeline(video_id: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/events?limit=500",
                      headers=admin_headers(), timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["events"]


def media(path: str) -> bytes:
    reply = httpx.get(CATALOG + path, timeout=30)
    assert reply.status_code == 200, (path, reply.status_code)
    return reply.content


def frame_times(data: bytes, tmp: Path) -> list[float]:
    """Presentation times of every decoded video frame of an fMP4 byte stream (ffprobe)."""
    tmp.write_bytes(data)
    done = subprocess.run([CommonSettings().ffprobe_path, "-v", "error", "-select_streams",
                           "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0",
                           str(tmp)], capture_output=True, text=True, timeout=120, check=True)
    return [float(x.strip(",")) for x in done.stdout.split() if x.strip(",")]


@pytest.fixture(scope="module")
def long_video(chunked: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    clip = make_clip(tmp_path_factory.mktemp("chunked") / "long.mp4", 640, 360, seconds=12)
    reply = submit(clip, metadata='{"title": "Chunked"}')
    assert reply.status_code == 202, reply.text
    video = wait_for_status(reply.json()["video_id"], {"ready", "failed"})
    assert video["status"] == "ready", video
    return video


def test_a_long_video_is_encoded_in_chunks_checkpointed_on_kafka_and_in_s3(
        long_video: dict[str, Any], store: Any, common_settings: Any) -> None:
    video_id = long_video["video_id"]
    announced = checkpoints(common_settings.kafka_bootstrap, video_id)
    assert sorted({e.index for e in announced}) == [0, 1, 2]
    first = {e.index: e for e in reversed(announced)}
    assert [(first[i].start_seconds, first[i].end_seconds) for i in range(3)] == [
        (0, 4), (4, 8), (8, 12)]
    assert [first[i].frame_count for i in range(3)] == [4 * FPS] * 3
    for index, event in first.items():
        assert {o.rendition for o in event.outputs} == {"240p", "360p"}
        manifest = store.ref(f"{chunk_prefix(video_id, 1, index)}/{CHUNK_MANIFEST}")
        assert store.head(manifest) is not None
        for output in event.outputs:
            assert store.head(store.ref(output.uri.split("/", 3)[3])) is not None
    done = [e for e in timeline(video_id) if e["topic"] == "rendition-done"]
    edges = {e["details"]["rendition"]: e["details"]["chunk_boundaries_seconds"] for e in done}
    assert edges["240p"] == edges["360p"] == [0.0, 4.0, 8.0, 12.0]
    assert edges["audio"] == edges["mp3"] == []  # audio is encoded once, whole


def test_the_stitched_package_has_every_segment_and_continuous_timestamps(
        long_video: dict[str, Any], tmp_path: Path) -> None:
    master = media(long_video["playback"]["hls"]).decode()
    base = long_video["playback"]["hls"].rsplit("/", 1)[0]
    for rung in ("240p", "360p"):
        assert f"{rung}/playlist.m3u8" in master
        playlist = media(f"{base}/{rung}/playlist.m3u8").decode()
        segments = [line for line in playlist.splitlines() if line.endswith(".m4s")]
        assert segments == [f"seg_{n:05d}.m4s" for n in range(1, 4)], playlist
        init = media(f"{base}/{rung}/init.mp4")
        whole = init
        for n, name in enumerate(segments):
            body = media(f"{base}/{rung}/{name}")
            # Each segment decodes on its own (init + segment), all 4 s of it.
            alone = frame_times(init + body, tmp_path / f"{rung}-{n}.mp4")
            assert len(alone) == 4 * FPS, (rung, name)
            whole += body
        times = frame_times(whole, tmp_path / f"{rung}.mp4")
        # 300 frames, 40 ms apart from first to last: no gap, no overlap at 4 s and 8 s.
        assert len(times) == 12 * FPS
        steps = {round(b - a, 4) for a, b in zip(times, times[1:], strict=False)}
        assert steps == {round(1 / FPS, 4)}, steps


def test_quality_is_scored_per_chunk_and_aggregated_per_rendition(
        long_video: dict[str, Any]) -> None:
    video = wait_for_scores(long_video["video_id"])
    for rendition in (r for r in video["renditions"] if r["media_type"] == "VIDEO"):
        quality = rendition["quality"]
        chunks = quality["chunks"]
        assert [(c["start_seconds"], c["end_seconds"]) for c in chunks] == [
            (0, 4), (4, 8), (8, 12)]
        assert sum(c["frames_scored"] for c in chunks) == quality["frames_scored"]
        weighted = sum(c["vmaf"] * c["frames_scored"] for c in chunks) / quality["frames_scored"]
        assert quality["vmaf"] == pytest.approx(weighted, abs=1e-3)


def test_a_chunked_video_reprocessed_with_another_profile_is_chunked_again(
        long_video: dict[str, Any], common_settings: Any) -> None:
    video_id = long_video["video_id"]
    reply = httpx.post(f"{INGEST}/api/v1/videos/{video_id}/reprocess", timeout=30,
                       headers=admin_headers(), json={"profile": "hevc", "renditions": ["240p"]})
    assert reply.status_code == 202, reply.text
    assert reply.json()["attempt"] == 2

    def second() -> dict[str, Any] | None:
        video = wait_for_status(video_id, {"ready", "failed"})
        return video if video["package"] and video["package"]["attempt"] == 2 else None

    video = wait_until(second, "attempt 2's package", timeout=300, every=2)
    rungs = [r for r in video["renditions"] if r["attempt"] == 2 and r["media_type"] == "VIDEO"]
    assert [r["rendition"] for r in rungs] == ["240p"]
    assert rungs[0]["codecs"].startswith("hvc1")
    again = [e for e in checkpoints(common_settings.kafka_bootstrap, video_id)
             if e.attempt == 2]
    assert sorted({e.index for e in again}) == [0, 1, 2]
    assert all([o.rendition for o in e.outputs] == ["240p"] for e in again)


class ChunkWorkerProcess:
    """A `reelflow chunks` process of this test (the session's is stopped meanwhile)."""

    def __init__(self, name: str) -> None:
        self.log = TEST_STATE / "logs" / f"test-chunks-{name}.log"
        env = {**os.environ, "REELFLOW_CHUNKS_SESSION_TIMEOUT_MS": "6000",
               "REELFLOW_CHUNKS_WORK_DIR": str(TEST_STATE / f"test-chunks-{name}")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "chunks"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         cwd=ROOT)

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # its ffmpeg too
        self.proc.wait(30)


def timed_records(bootstrap: str, topic: Any, video_id: str) -> list[tuple[Any, int, int]]:
    """(event, partition, broker timestamp in ms) of every record of `video_id` on `topic`."""
    codec = EventCodec(ALL_TOPICS)
    found = []
    for record in records(bootstrap, topic.name, topic.partitions):
        event = codec.decode(topic, record.value)
        if event.video_id == video_id:
            found.append((event, record.partition, record.timestamp))
    return found


def test_more_chunks_than_partitions_are_dealt_as_chunks_come_back(
        chunked: Any, common_settings: Any, tmp_path: Path) -> None:
    """32 s in 4 s chunks is 8 jobs for 6 partitions: the first 6 go out at once, one per
    partition; the 7th and 8th only after a chunk came back, each on the partition of the
    chunk that came back first and second (the worker that just finished)."""
    clip = make_clip(tmp_path / "longer.mp4", 640, 360, seconds=32)
    reply = submit(clip, metadata='{"title": "More chunks than partitions"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    video = wait_for_status(video_id, {"ready", "failed"}, timeout=300)
    assert video["status"] == "ready", video
    bootstrap = common_settings.kafka_bootstrap
    jobs = sorted(timed_records(bootstrap, CHUNK_REQUESTED, video_id),
                  key=lambda j: j[0].index)
    assert [j[0].index for j in jobs] == list(range(8)), jobs  # each dealt once
    assert [j[1] for j in jobs[:6]] == list(range(6))
    partition_of = {j[0].index: j[1] for j in jobs}
    back = sorted(((e.index, at) for e, _, at in timed_records(bootstrap, CHUNK_ENCODED,
                                                              video_id)),
                  key=lambda b: b[1])
    assert sorted(i for i, _ in back) == list(range(8)), back
    for (index, dealt_at), (returned, returned_at) in zip(
            [(j[0].index, j[2]) for j in jobs[6:]], back, strict=False):
        assert partition_of[index] == partition_of[returned], (index, returned, jobs, back)
        assert dealt_at >= returned_at, (index, returned, jobs, back)


def test_a_chunk_worker_killed_mid_video_loses_at_most_the_chunk_it_was_encoding(
        chunked: Any, common_settings: Any, tmp_path: Path) -> None:
    chunked.component("chunks").stop()
    workers = [ChunkWorkerProcess("a"), ChunkWorkerProcess("b")]
    try:
        wait_until(lambda: all(w.text.count("'chunk-requested/") >= 1 for w in workers)
                   and all(w.text.count("chunk-requested/") >= 3 for w in workers),
                   "both chunk workers to hold partitions", timeout=60)
        clip = make_clip(tmp_path / "long.mp4", 640, 360, seconds=16)
        reply = submit(clip, metadata='{"title": "Chunk worker killed"}')
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        bootstrap = common_settings.kafka_bootstrap
        first = wait_until(lambda: checkpoints(bootstrap, video_id),
                           "the first chunk checkpoint", timeout=120, every=0.3)[0]
        victim = next(w for w in workers if f"/{w.proc.pid}" in first.worker)
        victim.kill()
        survivor = next(w for w in workers if w is not victim)
        video = wait_for_status(video_id, {"ready", "failed"}, timeout=240)
        assert video["status"] == "ready", video
    finally:
        for worker in workers:
            worker.kill(signal.SIGTERM)
        chunked.component("chunks").start()

    announced = checkpoints(bootstrap, video_id)
    assert sorted({e.index for e in announced}) == [0, 1, 2, 3]
    fresh = [e for e in announced if not e.reused]
    # No chunk was encoded to completion twice: a finished chunk is a checkpoint.
    assert max(Counter(e.index for e in fresh).values()) == 1
    by_victim = {e.index for e in fresh if f"/{victim.proc.pid}" in e.worker}
    by_survivor = {e.index for e in fresh if f"/{survivor.proc.pid}" in e.worker}
    assert by_victim and by_survivor and not by_victim & by_survivor
    assert by_victim | by_survivor | {e.index for e in announced if e.reused} == {0, 1, 2, 3}
    # The victim's log: every chunk it started it finished, but for at most one.
    started = victim.text.count("encoding chunk ")
    assert started - len(by_victim) <= 1, victim.text[-3000:]
    time.sleep(0)  # (the video is ready: the survivor finished the rest)


def test_the_queued_chunks_of_a_cancelled_video_are_skipped_and_never_announced(
        chunked: Any, common_settings: Any, tmp_path: Path) -> None:
    """With no chunk worker running, a long video's chunk jobs queue up; the video is
    cancelled; a chunk worker started afterwards takes every one of those jobs (the group's
    committed offsets pass them) and encodes and announces none."""
    bootstrap = common_settings.kafka_bootstrap
    chunked.component("chunks").stop()
    worker = None
    try:
        clip = make_clip(tmp_path / "long.mp4", 640, 360, seconds=12)
        reply = submit(clip, metadata='{"title": "Chunked, then cancelled"}')
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]

        def planned() -> list[tuple[Any, Any, int]] | None:
            found = chunk_jobs(bootstrap, video_id)
            return found if found and len(found) == found[0][0].count else None
        jobs = wait_until(planned, "the video's chunk jobs", timeout=120, every=0.5)
        assert jobs
        gone = cancel(video_id)
        assert gone.status_code == 202, gone.text
        wait_for_status(video_id, {"cancelled"}, timeout=60)
        worker = ChunkWorkerProcess("cancelled")

        def taken() -> bool:
            done = committed(bootstrap, "chunks")
            return all(done.get(tp, 0) > offset for _, tp, offset in jobs)
        wait_until(taken, "the chunk worker to take the cancelled video's jobs", timeout=90)
    finally:
        if worker is not None:
            worker.kill(signal.SIGTERM)
        chunked.component("chunks").start()
    assert checkpoints(bootstrap, video_id) == []
    assert worker.text.count("skipped: its video was cancelled") == len(jobs), worker.text[-3000:]
    assert "encoding chunk " not in worker.text
