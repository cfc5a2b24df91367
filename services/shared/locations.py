"""Server locations (file paths, URLs) kept out of text that users read: API answers,
failure events, the catalog. Messages name inputs by a label where they are made; `scrub`
is for words we do not write ourselves (ffmpeg's stderr, an exception's text)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath


def is_url(path_or_url: str | PurePosixPath) -> bool:
    return "://" in str(path_or_url)


def redact(source: str) -> str:
    """`source` without a URL's query string (presigned credentials); for logs."""
    return source.split("?", 1)[0] if is_url(source) else source


#: An absolute path or a URL as ffmpeg and Python print them: up to whitespace, a quote, a
#: closing bracket, or the `: ` that separates a name from the complaint about it. A slash
#: after a word character (`1/25`, `Input/output`) starts no path.
_LOCATION = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|(?<![\w.])/(?=[^\s/'\"]))"
                       r"[^\s'\"]*?(?=:\s|[\s'\",)\]]|$)")


def placeholder(location: str) -> str:
    """What a message says instead of a path or URL: its last name, never its directory
    (`/srv/.reelflow/transcode-work/<id>/out/360p.mp4` -> `360p.mp4`; a URL -> `input`)."""
    if is_url(location):
        return "input"
    return PurePosixPath(location).name or "input"


def scrub(text: str, locations: Iterable[str] = ()) -> str:
    """`text` with every known location (an argv's inputs and outputs) replaced by its
    placeholder, then any other absolute path or URL ffmpeg printed as well."""
    for location in sorted({str(x) for x in locations if _names_a_location(str(x))},
                           key=len, reverse=True):
        text = text.replace(location, placeholder(location))
    return _LOCATION.sub(lambda match: placeholder(match.group(0)), text)


def _names_a_location(arg: str) -> bool:
    return is_url(arg) or arg.startswith("/")
