"""Is the ffmpeg binary one Reelflow can use? Checked once at service start (version, and
the encoders and filters we rely on) so that a bad install fails loudly there, not in the
middle of someone's video."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.shared.locations import placeholder
from services.shared.media.errors import FfmpegError, FfmpegUnsupported
from services.shared.media.process import FfmpegRun
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

#: Oldest FFmpeg we run: 6.0 brought the `-fps_mode`/threaded-muxer behaviour we rely on.
MIN_FFMPEG_MAJOR = 6
#: What every transcode needs; codec-specific encoders (libx265, libsvtav1) are checked per
#: profile with `FfmpegInfo.require`.
REQUIRED_ENCODERS = ("libx264", "aac", "libmp3lame", "mjpeg")
REQUIRED_FILTERS = ("libvmaf", "psnr", "ssim", "scale", "split", "select", "tile", "fps")


@dataclass(frozen=True)
class FfmpegInfo:
    path: str
    version: str
    major: int
    encoders: frozenset[str]
    filters: frozenset[str]

    def require(self, encoders: Iterable[str] = (), filters: Iterable[str] = ()) -> None:
        missing = [f"encoder {e}" for e in encoders if e not in self.encoders]
        missing += [f"filter {f}" for f in filters if f not in self.filters]
        if missing:
            # May surface in a failure event (a profile's encoder): the binary's name only.
            raise FfmpegUnsupported(f"{placeholder(self.path)} (FFmpeg {self.version}) lacks "
                                    f"{', '.join(missing)}")


_checked: dict[str, FfmpegInfo] = {}


def parse_version(text: str) -> tuple[str, int | None]:
    """(version string, major) from `ffmpeg -version`; None when it cannot be told.

    Release builds say `ffmpeg version 7.1` or `n9.0.2-...`; git builds say `N-12345-g...`,
    so those fall back to libavcodec's major (60 is FFmpeg 6.0, 61 is 7.x, 62 is 8.x).
    """
    first = text.splitlines()[0] if text else ""
    version = first.split(" version ", 1)[1].split()[0] if " version " in first else "unknown"
    release = re.match(r"n?(\d+)\.(\d+)", version)
    if release:
        return version, int(release.group(1))
    lavc = re.search(r"^libavcodec\s+(\d+)\.", text, re.MULTILINE)
    return version, (int(lavc.group(1)) - 54 if lavc else None)


_LISTED = re.compile(r"^ ([A-Z.|]{2,6}) (\w+) ", re.MULTILINE)


def _names(listing: str) -> frozenset[str]:
    # `-encoders` lines: " V....D libx264   libx264 H.264 ..."; `-filters`: " TS scale  V->V".
    return frozenset(match.group(2) for match in _LISTED.finditer(listing))


async def check_ffmpeg(settings: CommonSettings | None = None, *,
                       encoders: Iterable[str] = (),
                       filters: Iterable[str] = ()) -> FfmpegInfo:
    """Verify the ffmpeg binary and ffprobe: FFmpeg >= 6 with `REQUIRED_ENCODERS`,
    `REQUIRED_FILTERS` and the extra `encoders`/`filters` given (a profile's encoder).

    Raises `FfmpegUnsupported` with a sentence saying what is wrong. The binary is run
    once per process; later calls only check the names.
    """
    settings = settings or CommonSettings()
    path = settings.ffmpeg_path
    info = _checked.get(path)
    if info is None:
        outputs = []
        for flag in ("-version", "-encoders", "-filters"):
            run = FfmpegRun([path, "-hide_banner", flag], capture_stdout=True)
            try:
                await run.run()
            except FfmpegError as exc:
                raise FfmpegUnsupported(f"{path} does not run: {exc}") from exc
            outputs.append(run.stdout.decode(errors="replace"))
        version, major = parse_version(outputs[0])
        if major is None or major < MIN_FFMPEG_MAJOR:
            raise FfmpegUnsupported(f"{path} is FFmpeg {version}; Reelflow needs "
                                    f"{MIN_FFMPEG_MAJOR} or newer")
        info = FfmpegInfo(path, version, major, _names(outputs[1]), _names(outputs[2]))
        try:
            await FfmpegRun([settings.ffprobe_path, "-version"], capture_stdout=True).run()
        except (FileNotFoundError, FfmpegError) as exc:
            raise FfmpegUnsupported(f"ffprobe is unusable: {exc}") from exc
        _checked[path] = info
        log.info("using %s (FFmpeg %s)", path, version)
    info.require([*REQUIRED_ENCODERS, *encoders], [*REQUIRED_FILTERS, *filters])
    return info


#: Oldest Shaka Packager we run: 3.x writes `cbcs` with `--generate_static_live_mpd`, as
#: the npm `shaka-packager` package pinned in package.json ships it (3.4.2).
MIN_SHAKA_PACKAGER = (3, 0)


def parse_packager_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from `packager --version` (`packager version v3.4.2-c819dea-release`)."""
    match = re.search(r"version v?(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


async def check_shaka_packager(settings: CommonSettings | None = None) -> str:
    """Verify the Shaka Packager binary (encrypted packages); its version text, or
    `FfmpegUnsupported` saying what is wrong (missing: `./run setup` installs it)."""
    settings = settings or CommonSettings()
    path = settings.shaka_packager_path
    run = FfmpegRun([path, "--version"], capture_stdout=True, name="shaka-packager")
    try:
        await run.run()
    except (FileNotFoundError, PermissionError, FfmpegError) as exc:
        raise FfmpegUnsupported(f"Shaka Packager ({placeholder(path)}) does not run: {exc}; "
                                "run ./run setup") from exc
    text = run.stdout.decode(errors="replace").strip()
    version = parse_packager_version(text)
    if version is None or version < MIN_SHAKA_PACKAGER:
        raise FfmpegUnsupported(f"{placeholder(path)} is {text!r}; Reelflow needs Shaka "
                                f"Packager {'.'.join(map(str, MIN_SHAKA_PACKAGER))} or newer")
    log.info("using %s (%s)", path, text)
    return text
