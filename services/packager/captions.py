"""Captions in the package. Pure.

A `captions-done` either finds its attempt's package already published (then the packager
publishes a revision with the captions track) or arrives first: it is held here until the
attempt's renditions are complete, so the first package already carries it. Held captions
keep the commit floor of their partition like an open rendition set does, so a restarted
packager re-reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.events import RenditionDone
from services.packager.assembly import PartitionKey

#: The outcome of captions with speech; `no_speech` has nothing to show.
SPOKEN = "ok"
_LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español",
                   "it": "Italiano", "pt": "Português", "nl": "Nederlands", "ja": "日本語",
                   "zh": "中文", "ru": "Русский"}
_CUE_TIMING = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} --> ")


def has_track(event: RenditionDone) -> bool:
    return event.captions_outcome == SPOKEN and bool(event.language)


def track_name(language: str) -> str:
    """The label players show for the track."""
    return _LANGUAGE_NAMES.get(language, language)


def vtt_words(vtt: str) -> int:
    """Words in a WebVTT file's cue text (metadata.json's `word_count`)."""
    count, in_cue = 0, False
    for line in vtt.splitlines():
        if _CUE_TIMING.match(line):
            in_cue = True
        elif not line.strip():
            in_cue = False
        elif in_cue:
            count += len(line.split())
    return count


@dataclass
class _Held:
    event: RenditionDone
    partition: PartitionKey
    offset: int


@dataclass
class HeldCaptions:
    """Captions waiting for their attempt's first package."""

    held: dict[tuple[str, int], _Held] = field(default_factory=dict)

    def hold(self, event: RenditionDone, partition: PartitionKey, offset: int) -> None:
        key = (event.video_id, event.attempt)
        if key not in self.held:
            self.held[key] = _Held(event, partition, offset)
        for stale in [k for k in self.held if k[0] == event.video_id and k[1] < event.attempt]:
            del self.held[stale]  # a newer attempt supersedes the older one's package

    def take(self, video_id: str, attempt: int) -> RenditionDone | None:
        found = self.held.pop((video_id, attempt), None)
        return found.event if found else None

    def peek(self, video_id: str, attempt: int) -> RenditionDone | None:
        found = self.held.get((video_id, attempt))
        return found.event if found else None

    def commit_floor(self, partition: PartitionKey, next_offset: int) -> int:
        return min([next_offset, *(h.offset for h in self.held.values()
                                   if h.partition == partition)])

    def forget_partition(self, partition: PartitionKey) -> None:
        for key in [k for k, h in self.held.items() if h.partition == partition]:
            del self.held[key]
