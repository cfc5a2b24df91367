"""What captions cost: the speech model's real-time factor on this machine, and what they do
to time-to-playable, measured side by side in one run.

    .venv/bin/python -m benchmarks.captions [--seconds 60]

1. Real-time factor: the captions service's own `Recognizer` (Whisper base, int8, the
   default threads and beam) over the 16 kHz audio its own decoder made of a generated
   clip of espeak-ng speech (`--seconds` long, at least 60): audio seconds per processing
   second, and the model's load time.
2. Time-to-playable: the whole stack (its own Kafka, PostgreSQL, S3 and every service, in
   `.reelflow-bench-captions/` on ports 206xx and 2255x) gets the same clip twice, captions
   off and captions on, one after the other: upload to `ready` for each, and, for the one
   with captions, upload to the captions being listed (the captions-done event).

Figures are printed with ratios; nothing passes or fails. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".reelflow-bench-captions"
BENCH_ENV = {
    "REELFLOW_STATE_DIR": str(STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:20692",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": "20693",
    "REELFLOW_PG_DSN": "host=127.0.0.1 port=20632 dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": "http://127.0.0.1:22550",
    "REELFLOW_STACK_WEED_MASTER_PORT": "22551",
    "REELFLOW_STACK_WEED_VOLUME_PORT": "22552",
    "REELFLOW_STACK_WEED_FILER_PORT": "22553",
    "REELFLOW_STACK_PROMETHEUS_PORT": "20690",
    "REELFLOW_CATALOG_PORT": "20600",
    "REELFLOW_INGEST_PORT": "20601",
    "REELFLOW_INGEST_CATALOG_URL": "http://127.0.0.1:20600",
    "REELFLOW_FIGURES_PORT": "20604",
    "REELFLOW_TRANSCODE_METRICS_PORT": "0",
    "REELFLOW_PACKAGER_METRICS_PORT": "0",
    "REELFLOW_CAPTIONS_METRICS_PORT": "0",
    "REELFLOW_LOG_LEVEL": "WARNING",
    "REELFLOW_ADMIN_KEY": "reelflow-bench-captions-admin",
}
#: Read over and over to make a clip as long as asked.
TEXT = ("Seven ships sailed into the harbour at midnight. The quick brown fox jumps over the "
        "lazy dog. A cold wind came down from the hills and the lamps along the quay went "
        "out one by one. Nobody on the pier said a word until the bells rang again.")


def speech_clip(path: Path, seconds: float) -> Path:
    from tests.speech import make_speech_clip

    spoken = max(1, round(seconds / 13))  # espeak-ng at 150 wpm says TEXT in about 13 s
    return make_speech_clip(path, (TEXT,) * spoken)


def real_time_factor(clip: Path, work: Path) -> dict[str, Any]:
    from services.captions.audio import decode_speech_audio
    from services.captions.settings import CaptionsSettings
    from services.captions.speech import Recognizer

    settings = CaptionsSettings(nice=0)
    pcm = asyncio.run(decode_speech_audio(clip, work / "audio.f32", settings.common))
    started = time.perf_counter()
    recognizer = Recognizer(settings)
    loaded = time.perf_counter() - started
    cpu = time.process_time()
    result = recognizer.recognize(pcm, None, threading.Event())
    return {"audio_s": result.audio_seconds, "processing_s": result.processing_seconds,
            "cpu_s": time.process_time() - cpu, "load_s": loaded,
            "rtf": result.audio_seconds / result.processing_seconds,
            "words": len(result.transcript.text.split()),
            "language": result.transcript.language or "-"}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def time_to_playable(clip: Path) -> dict[str, dict[str, float | None]]:
    import httpx

    from services.stack import LocalStack, StackSettings

    for key, value in BENCH_ENV.items():
        os.environ[key] = value
    headers = {"X-API-Key": BENCH_ENV["REELFLOW_ADMIN_KEY"]}
    ingest, catalog = (f"http://127.0.0.1:{BENCH_ENV[p]}" for p in
                       ("REELFLOW_INGEST_PORT", "REELFLOW_CATALOG_PORT"))
    stack = LocalStack(StackSettings())
    started = stack.up()
    figures: dict[str, dict[str, float | None]] = {}
    try:
        for label, captions in (("captions off", "false"), ("captions on", "true")):
            with clip.open("rb") as body:
                reply = httpx.post(f"{ingest}/api/v1/videos", headers=headers, timeout=300,
                                   files={"file": (clip.name, body)},
                                   data={"captions": captions})
            reply.raise_for_status()
            video_id = reply.json()["video_id"]
            deadline = time.monotonic() + 3600
            video: dict[str, Any] = {}
            while time.monotonic() < deadline:
                answer = httpx.get(f"{catalog}/api/v1/videos/{video_id}", headers=headers,
                                   timeout=30)
                if answer.status_code != 200:  # not projected yet
                    time.sleep(1)
                    continue
                video = answer.json()
                done = video["status"] in ("ready", "failed")
                if done and (captions == "false" or video.get("captions")):
                    break
                time.sleep(1)
            events = httpx.get(f"{catalog}/api/v1/videos/{video_id}/events", headers=headers,
                               params={"limit": 5000}, timeout=30).json()["events"]
            uploaded = _instant(video["states"]["uploaded"])
            ready = _instant(video["states"]["ready"]) if video["states"]["ready"] else None
            spoken = [_instant(e["occurred_at"]) for e in events if e["topic"] == "captions-done"]
            figures[label] = {
                "playable_s": (ready - uploaded).total_seconds() if ready else None,
                "captions_s": (spoken[0] - uploaded).total_seconds() if spoken else None,
                "revision": (video.get("package") or {}).get("revision"),
            }
    finally:
        if started:
            stack.down()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    seconds = max(60.0, args.seconds)
    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-captions-"))
    try:
        clip = speech_clip(work / "speech.mp4", seconds)
        rtf = real_time_factor(clip, work)
        print(f"\nreal-time factor (Whisper base, int8, default threads, beam 1), load "
              f"{os.getloadavg()[0]:.1f}:")
        print(f"  {rtf['audio_s']:.1f} s of speech in {rtf['processing_s']:.1f} s "
              f"(CPU {rtf['cpu_s']:.1f} s): {rtf['rtf']:.2f}x real time, "
              f"{rtf['audio_s'] / max(rtf['cpu_s'], 0.001):.2f} audio s per CPU s; "
              f"model load {rtf['load_s']:.1f} s; {rtf['words']:.0f} words, "
              f"language {rtf['language']}", flush=True)
        ttp = time_to_playable(clip)
        off, on = ttp["captions off"], ttp["captions on"]
        print(f"\ntime to playable, {rtf['audio_s']:.0f} s clip, side by side:")
        for label, row in ttp.items():
            print(f"  {label:13s} playable {row['playable_s'] or float('nan'):7.1f} s   "
                  f"captions {row['captions_s'] or float('nan'):7.1f} s   "
                  f"package revision {row['revision']}")
        if off["playable_s"] and on["playable_s"]:
            print(f"  ratio playable on/off: {on['playable_s'] / off['playable_s']:.2f}")
        if on["captions_s"] and on["playable_s"]:
            print(f"  captions on: captions after {on['captions_s'] / on['playable_s']:.2f}x "
                  "the time to playable")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
