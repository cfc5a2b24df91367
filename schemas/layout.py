"""Where every object lives in the bucket: the S3 key layout, spelled out once.

    sources/{video_id}/original              the uploaded or imported source (private)
    sources/{video_id}/thumbnail.{ext}       a custom thumbnail sent with the upload
    renditions/{video_id}/{attempt}/…        transcode's outputs of one attempt
    renditions/{video_id}/{attempt}/transcription/
                                             the captions stage's transcript.vtt, .srt,
                                             .txt and .json
    packages/{video_id}/{attempt}/…          the streaming package of one attempt
    packages/{video_id}/{attempt}/metadata.json
    packages/{video_id}/{attempt}/_published written after video-transcoded: done
    packages/{video_id}/{attempt}/master.r{N}.m3u8, manifest.r{N}.mpd, _published.r{N}
                                             a later revision of the manifests (captions
                                             added over the same segments)

Outputs are attempt-scoped, so a redo or a reprocess never overwrites a file an earlier
event references. Keys carry no bucket and no leading slash.
"""

from __future__ import annotations

import re

SOURCES = "sources/"
RENDITIONS = "renditions/"
PACKAGES = "packages/"

#: Key prefixes that playback may serve; the sources stay private (custom thumbnails
#: excepted, see `is_custom_thumbnail`).
PLAYBACK_PREFIXES: tuple[str, ...] = (PACKAGES, RENDITIONS)

#: Written last into a package: its presence means the attempt was announced.
PUBLISHED_MARKER = "_published"
METADATA_FILE = "metadata.json"

#: Picture formats a custom thumbnail may have (its key's extension).
THUMBNAIL_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")

_CUSTOM_THUMBNAIL = re.compile(
    rf"^{SOURCES}[0-9a-f-]{{36}}/thumbnail\.({'|'.join(THUMBNAIL_EXTENSIONS)})$")


def source_key(video_id: str) -> str:
    return f"{SOURCES}{video_id}/original"


def thumbnail_key(video_id: str, ext: str) -> str:
    if ext not in THUMBNAIL_EXTENSIONS:
        raise ValueError(f"not a thumbnail extension: {ext!r}")
    return f"{SOURCES}{video_id}/thumbnail.{ext}"


def is_custom_thumbnail(key: str) -> bool:
    return bool(_CUSTOM_THUMBNAIL.match(key))


def rendition_prefix(video_id: str, attempt: int) -> str:
    return f"{RENDITIONS}{video_id}/{attempt}"


def package_prefix(video_id: str, attempt: int) -> str:
    return f"{PACKAGES}{video_id}/{attempt}"


def published_marker_key(video_id: str, attempt: int) -> str:
    return f"{package_prefix(video_id, attempt)}/{PUBLISHED_MARKER}"


def metadata_key(video_id: str, attempt: int) -> str:
    return f"{package_prefix(video_id, attempt)}/{METADATA_FILE}"


def captions_prefix(video_id: str, attempt: int) -> str:
    return f"{rendition_prefix(video_id, attempt)}/transcription"


def revision_name(name: str, revision: int) -> str:
    """`master.m3u8` of revision 1 stays `master.m3u8`; revision 2 is `master.r2.m3u8`
    (and `_published` -> `_published.r2`): an earlier revision is never overwritten, so a
    player that loaded it keeps working."""
    if revision <= 1:
        return name
    stem, dot, ext = name.partition(".")
    return f"{stem}.r{revision}{dot}{ext}"


def revision_marker_key(video_id: str, attempt: int, revision: int) -> str:
    return f"{package_prefix(video_id, attempt)}/{revision_name(PUBLISHED_MARKER, revision)}"
