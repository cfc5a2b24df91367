"""The `content-keys` projection: every encrypted attempt's wrapped content keys, in memory
(the catalog serves license and CPIX requests from it; `reelflow keys rotate-kek` re-wraps
them). See `services.shared.envelope` for the wrapping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from schemas import CONTENT_KEYS
from schemas.events import ContentKeyState
from services.shared.codec import EventCodec
from services.shared.follow import follow


@dataclass
class ContentKeyTable:
    """kid -> latest wrapped snapshot, with an index by (video, attempt)."""

    by_kid: dict[str, ContentKeyState] = field(default_factory=dict)
    by_attempt: dict[tuple[str, int], set[str]] = field(default_factory=dict)

    def apply(self, event: ContentKeyState) -> None:
        self.by_kid[event.kid] = event
        self.by_attempt.setdefault((event.video_id, event.attempt), set()).add(event.kid)

    def of_video(self, video_id: str) -> list[ContentKeyState]:
        """Every key of every attempt of the video (old attempts' keys keep working)."""
        return sorted((self.by_kid[k] for (v, _), kids in self.by_attempt.items()
                       if v == video_id for k in kids), key=lambda s: (s.attempt, s.kid))


class ContentKeyring:
    """The `content-keys` projection a process follows for as long as it runs."""

    def __init__(self, bootstrap: str, codec: EventCodec) -> None:
        self.table = ContentKeyTable()
        self.caught_up = asyncio.Event()
        self._bootstrap, self._codec = bootstrap, codec

    async def run(self, stop: asyncio.Event) -> None:
        await follow(self._bootstrap, CONTENT_KEYS, self._codec,
                     lambda event: self.table.apply(event),  # type: ignore[arg-type]
                     self.caught_up, stop)
