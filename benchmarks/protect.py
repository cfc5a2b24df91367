"""`./run bench protect` (`python -m benchmarks.protect`): what protected playback costs,
measured side by side in one run (figures and ratios, never pass/fail).

1. Packaging, clear versus encrypted, of the same renditions of a 20 s 1080p30 clip (1080p
   and 360p rungs with 2 s GOPs, AAC audio, as transcode writes them): the packager's clear
   path (one ffmpeg remux + box parsing + our manifests) against the encrypted one (Shaka
   Packager, cbcs, + box parsing). Wall and CPU seconds (this process plus its children),
   median of `--runs`.
2. `/media` cost per request, in CPU-µs of the catalog process, with and without token
   checks: the real catalog app (routes, middleware, token check, manifest rewrite) in
   this process over ASGI, S3 answered from memory (a fixed object per key) and the
   video's policy pre-cached, so what differs between the rows is the token path alone.
3. The license answer's latency (p50, p99) through the same app: W3C ClearKey requests
   with a valid token, key unwrapped per request; beside it, a public manifest's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

from schemas.events import ContentKeyState, SigningKeyState
from services.catalog.license import b64url
from services.packager import encryption
from services.packager.package import RenditionInput, package_renditions
from services.shared.envelope import ContentKey, Keks, new_kek
from services.shared.media.process import run_blocking
from services.shared.settings import CommonSettings
from services.shared.signing_keys import new_keypair

OWNER = "bench"
MASTER = ("#EXTM3U\n#EXT-X-VERSION:7\n"
          '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="main",URI="audio/playlist.m3u8"\n'
          + "".join(f'#EXT-X-STREAM-INF:BANDWIDTH={b}000,CODECS="avc1.640028,mp4a.40.2",'
                    f'AUDIO="audio"\n{r}/playlist.m3u8\n'
                    f'#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="{r}/iframes.m3u8"\n'
                    for r, b in (("360p", 800), ("720p", 2000), ("1080p", 4000))))
SEGMENT = os.urandom(1_000_000)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# -- 1. packaging ---------------------------------------------------------------------------

def _renditions(work: Path, seconds: float) -> list[RenditionInput]:
    ffmpeg = CommonSettings().ffmpeg_path
    source = work / "source.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate=30:duration={seconds}", "-f", "lavfi",
                    "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60",
                    "-sc_threshold", "0", "-b:v", "3600k", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(source)],
                   check=True)
    small = work / "360p.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(source), "-vf", "scale=640:360",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60",
                    "-sc_threshold", "0", "-b:v", "360k", "-c:a", "copy", "-movflags",
                    "+faststart", str(small)], check=True)
    return [RenditionInput("1080p", source, "VIDEO", "avc1.640028,mp4a.40.2", 1920, 1080,
                           30.0, 3_600_000),
            RenditionInput("360p", small, "VIDEO", "avc1.64001e,mp4a.40.2", 640, 360,
                           30.0, 360_000)]


def _timed(make: Any) -> tuple[float, float]:
    wall, cpu = time.monotonic(), _cpu()
    make()
    return time.monotonic() - wall, _cpu() - cpu


def packaging(seconds: float, runs: int) -> dict[str, tuple[float, float]]:
    common = CommonSettings()
    binary = common.shaka_packager_path

    def shaka(args: Any) -> None:
        subprocess.run([binary, *args], check=True, capture_output=True)

    def ffmpeg(args: Any) -> None:
        run_blocking(args, common)

    with tempfile.TemporaryDirectory(prefix="bench-protect-") as tmp:
        work = Path(tmp)
        inputs = _renditions(work, seconds)
        clear, encrypted = [], []
        for i in range(runs):
            clear.append(_timed(lambda i=i: package_renditions(
                inputs, work / f"clear-{i}", segment_seconds=4.0, run_ffmpeg=ffmpeg)))
            encrypted.append(_timed(lambda i=i: encryption.package_encrypted(
                inputs, work / f"enc-{i}" / "out", ContentKey.new(), video_id=str(uuid.uuid4()),
                attempt=1, segment_seconds=4.0, run=shaka)))
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    return {"clear": (med(clear, 0), med(clear, 1)),
            "encrypted": (med(encrypted, 0), med(encrypted, 1))}


# -- 2./3. the catalog app in process -------------------------------------------------------

class _MemoryS3:
    """Answers get_object/head_object from memory (benchmark only: S3 is not measured)."""

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        data = MASTER.encode() if Key.endswith(".m3u8") else SEGMENT
        return {"Body": io.BytesIO(data), "ContentLength": len(data), "ETag": '"x"'}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        return {"ContentLength": len(SEGMENT), "ETag": '"x"'}


def _app(public_id: str, signed_id: str, kid: str, public_pem: str, key: ContentKey,
         keks: Keks) -> Any:
    from schemas import ALL_TOPICS
    from services.catalog.api import create_app
    from services.catalog.settings import CatalogSettings
    from services.shared.codec import EventCodec
    from services.shared.content_keys import ContentKeyring
    from services.shared.keyring import Keyring
    from services.shared.producer import EventProducer
    from services.shared.signing_keys import SigningKeyring
    settings = CatalogSettings()
    codec = EventCodec(ALL_TOPICS)
    signing, content = SigningKeyring("-", codec), ContentKeyring("-", codec)
    now = datetime.now(UTC)
    signing.apply(SigningKeyState(event_id=str(uuid.uuid4()), occurred_at=now, kid=kid,
                                  owner=OWNER, public_key_pem=public_pem, active=True,
                                  created_at=now))
    signing.caught_up.set()
    kek_id, wrapped = keks.wrap(signed_id, 1, key)
    content.table.apply(ContentKeyState(event_id=str(uuid.uuid4()), occurred_at=now,
                                        kid=key.kid, video_id=signed_id, attempt=1,
                                        kek_id=kek_id, wrapped_key=wrapped))
    content.caught_up.set()
    app = create_app(settings, None, EventProducer("-", codec, "bench"), None,  # type: ignore[arg-type]
                     _MemoryS3(), Keyring("-", "", codec), "api", signing=signing,
                     content_keys=content)
    app.state.keks = keks
    guard = app.state.guard
    guard.ttl_s = 1e9  # the policies below stay cached: no database in these figures
    far = time.monotonic()
    guard._cache.update({public_id: (far, "public", OWNER), signed_id: (far, "signed", OWNER)})
    return app


async def _requests(app: Any, calls: list[tuple[str, str, dict[str, Any]]], n: int
                    ) -> dict[str, tuple[float, list[float]]]:
    """Per label: CPU-µs per request (this process) and each request's latency in ms."""
    transport = httpx.ASGITransport(app=app)
    out: dict[str, tuple[float, list[float]]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for label, method, kwargs in calls:
            for _ in range(50):  # warm up
                await client.request(method, **kwargs)
            latencies = []
            cpu = time.process_time()
            for _ in range(n):
                started = time.perf_counter()
                reply = await client.request(method, **kwargs)
                latencies.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200, (label, reply.status_code, reply.text[:200])
            out[label] = ((time.process_time() - cpu) / n * 1e6, latencies)
    return out


def serving(n: int) -> dict[str, tuple[float, list[float]]]:
    os.environ.setdefault("REELFLOW_KEK", new_kek())
    keks = Keks.from_settings(CommonSettings())
    private_pem, public_pem = new_keypair()
    public_id, signed_id, kid = (str(uuid.uuid4()) for _ in range(3))
    key = ContentKey.new()
    app = _app(public_id, signed_id, kid, public_pem, key, keks)
    token = jwt.encode({"sub": signed_id, "aud": "v", "exp": int(time.time()) + 3600},
                       private_pem, algorithm="RS256", headers={"kid": kid})
    seg, master = "1080p/seg_00001.m4s", "master.m3u8"
    license_body = json.dumps({"kids": [b64url(uuid.UUID(key.kid).bytes)],
                               "type": "temporary"})
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("segment, public", "GET", {"url": f"/media/packages/{public_id}/1/{seg}"}),
        ("segment, signed (token check)", "GET",
         {"url": f"/media/packages/{signed_id}/1/{seg}", "params": {"token": token}}),
        ("manifest, public", "GET", {"url": f"/media/packages/{public_id}/1/{master}"}),
        ("manifest, signed (check + rewrite)", "GET",
         {"url": f"/media/packages/{signed_id}/1/{master}", "params": {"token": token}}),
        ("license (ClearKey, unwrap)", "POST",
         {"url": f"/license/clearkey/{signed_id}", "params": {"token": token},
          "content": license_body, "headers": {"Content-Type": "application/json"}}),
    ]
    return asyncio.run(_requests(app, calls, n))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.protect", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (20 s)")
    parser.add_argument("--runs", type=int, default=3, help="packaging runs per path")
    parser.add_argument("--requests", type=int, default=2000, help="requests per row")
    args = parser.parse_args(argv)
    print(f"machine load average {os.getloadavg()[0]:.1f}", flush=True)
    packed = packaging(args.seconds, args.runs)
    print(f"\npackaging a {args.seconds:g} s 1080p30 clip (1080p + 360p + AAC), median of "
          f"{args.runs}:")
    print(f"{'path':<34}{'wall s':>10}{'CPU s':>10}")
    for name, (wall, cpu) in packed.items():
        print(f"{name:<34}{wall:>10.2f}{cpu:>10.2f}")
    (cw, cc), (ew, ec) = packed["clear"], packed["encrypted"]
    print(f"{'encrypted / clear':<34}{ew / cw:>10.2f}{ec / cc:>10.2f}")
    served = serving(args.requests)
    print(f"\n/media and the license service in process, {args.requests} requests per row:")
    print(f"{'request':<38}{'CPU-µs':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for label, (cpu_us, lat) in served.items():
        print(f"{label:<38}{cpu_us:>10.0f}{_pct(lat, .5):>10.2f}{_pct(lat, .99):>10.2f}")
    s = {label: v[0] for label, v in served.items()}
    print(f"{'signed / public, segment':<38}"
          f"{s['segment, signed (token check)'] / s['segment, public']:>10.2f}")
    print(f"{'signed / public, manifest':<38}"
          f"{s['manifest, signed (check + rewrite)'] / s['manifest, public']:>10.2f}")
    license_p99 = _pct(served["license (ClearKey, unwrap)"][1], .99)
    print(f"{'license p99 / 500 ms (seed 000)':<38}{license_p99 / 500:>10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
