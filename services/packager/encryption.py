"""Encrypted packages (issue 14): CENC `cbcs` with a per-attempt content key, one segment set
that both manifests serve, written by Shaka Packager (npm `shaka-packager`).

- HLS: `EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMAT="identity"` whose URI is the catalog's HLS key
  endpoint (`/license/hls/{video}/{attempt}`; the catalog adds the viewer's token to it when
  it serves the playlist).
- DASH: `ContentProtection` `mp4protection` with `cenc:default_KID`, the W3C common system
  PSSH Shaka Packager writes, and a ClearKey `ContentProtection` added here with the license
  URL (`/license/clearkey/{video}`, the W3C JSON format).
- The key reaches the packager in a flag file (mode 600, deleted after the run), never on
  its command line, so it shows in no process list and no log; `--quiet` keeps the
  packager's own log short.

The argument lists and the MPD edit are pure; `package_encrypted` is the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from schemas.events import ContentKeyState
from services.packager import cmaf
from services.packager.package import (
    PackageResult,
    RenditionInput,
    assemble,
    select_tracks,
)
from services.shared.envelope import ContentKey, Keks
from services.shared.events import new_event_id, now
from services.shared.media.process import FfmpegRun
from services.shared.settings import CommonSettings

SCHEME = "cbcs"
CLEARKEY_SYSTEM = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
#: Runs Shaka Packager with these arguments (no binary); raises on failure.
PackagerRunner = Callable[[Sequence[str]], None]
_MP4_PROTECTION = re.compile(
    r'(?P<indent>[ \t]*)<ContentProtection\b[^>]*urn:mpeg:dash:mp4protection:2011[^>]*/>\n')


def hls_key_uri(video_id: str, attempt: int) -> str:
    return f"/license/hls/{video_id}/{attempt}"


def clearkey_license_url(video_id: str) -> str:
    return f"/license/clearkey/{video_id}"


def stream_descriptors(sources: Sequence[cmaf.TrackSource], out_dir: Path) -> list[str]:
    """One descriptor per track, named as the clear package's (`<name>/init.mp4`,
    `<name>/seg_00001.m4s`, `<name>/playlist.m3u8`), so the layout does not change. Shaka
    Packager writes the manifests' URLs relative to the manifests."""
    out = []
    for source in sources:
        name = f"{out_dir}/{source.name}"
        fields = [f"in={source.path}", f"stream={source.stream}",
                  f"init_segment={name}/{cmaf.INIT_NAME}",
                  f"segment_template={name}/{cmaf.SEGMENT_TEMPLATE}",
                  f"playlist_name={name}/playlist.m3u8"]
        if source.stream == "video":
            fields.append(f"iframe_playlist_name={name}/iframes.m3u8")
        else:
            fields += ["hls_group_id=audio", "hls_name=main"]
        out.append(",".join(fields))
    return out


def packager_args(sources: Sequence[cmaf.TrackSource], out_dir: Path, segment_seconds: float,
                  key_uri: str, flag_file: Path) -> list[str]:
    return [*stream_descriptors(sources, out_dir),
            "--segment_duration", f"{segment_seconds:g}",
            "--protection_scheme", SCHEME, "--clear_lead", "0",
            f"--flagfile={flag_file}",  # --enable_raw_key_encryption and --keys
            "--hls_key_uri", key_uri,
            "--generate_static_live_mpd",
            "--hls_master_playlist_output", f"{out_dir}/master.m3u8",
            "--mpd_output", f"{out_dir}/manifest.mpd",
            "--quiet"]


def key_flags(key: ContentKey) -> str:
    """The flag file's text: the one key for every track (label empty)."""
    return ("--enable_raw_key_encryption\n"
            f"--keys=label=:key_id={key.kid_hex}:key={key.key.hex()}\n")


def signal_clearkey(mpd: str, license_url: str) -> str:
    """Add the ClearKey system (with its license URL) beside each `mp4protection`."""
    def add(match: re.Match[str]) -> str:
        indent = match.group("indent")
        return (match.group(0)
                + f'{indent}<ContentProtection schemeIdUri="{CLEARKEY_SYSTEM}" '
                + 'value="ClearKey1.0">\n'
                + f'{indent}  <dashif:laurl xmlns:dashif="https://dashif.org/CPS">'
                + f"{license_url}</dashif:laurl>\n"
                + f"{indent}</ContentProtection>\n")
    return _MP4_PROTECTION.sub(add, mpd)


def package_encrypted(renditions: list[RenditionInput], out_dir: Path, key: ContentKey, *,
                      video_id: str, attempt: int, segment_seconds: float,
                      run: PackagerRunner) -> PackageResult:
    """Package like `package_renditions`, encrypted; `run` runs Shaka Packager."""
    started = time.monotonic()
    chosen = select_tracks(renditions)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError("the package directory is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    flag_file = out_dir.parent / f".keys-{attempt}.flags"
    fd = os.open(flag_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key_flags(key))
        sources = [cmaf.TrackSource(s.name, s.path.resolve(), s.stream) for s in chosen.sources]
        run(packager_args(sources, out_dir.resolve(), segment_seconds,
                          hls_key_uri(video_id, attempt), flag_file.resolve()))
    finally:
        with contextlib.suppress(FileNotFoundError):
            flag_file.unlink()
    mpd = out_dir / "manifest.mpd"
    mpd.write_text(signal_clearkey(mpd.read_text(), clearkey_license_url(video_id)))
    tracks = [cmaf.read_track(s.name, s.stream, out_dir / s.name) for s in chosen.sources]
    return assemble(chosen, tracks, out_dir, segment_seconds, started, write_manifests=False)


def content_key_event(video_id: str, attempt: int, key: ContentKey,
                      keks: Keks) -> ContentKeyState:
    """The `content-keys` snapshot of a new key: wrapped under the current KEK."""
    wrapped_by, wrapped = keks.wrap(video_id, attempt, key)
    return ContentKeyState(event_id=new_event_id(), occurred_at=now(), kid=key.kid,
                           video_id=video_id, attempt=attempt, scheme=SCHEME,
                           kek_id=wrapped_by, wrapped_key=wrapped)


def shaka_runner(common: CommonSettings, loop: asyncio.AbstractEventLoop) -> PackagerRunner:
    """Packaging runs in a worker thread; Shaka Packager goes through the one process
    runner (logging, status, terminate-then-kill) on the service's event loop."""
    def run(args: Sequence[str]) -> None:
        process = FfmpegRun([common.shaka_packager_path, *args], name="shaka-packager")
        asyncio.run_coroutine_threadsafe(process.run(), loop).result()
    return run
