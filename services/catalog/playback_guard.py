"""Who may fetch a playback object: the shell around `tokens.check` that `/media` asks.

A video's policy and owner come from the read model (`videos`), cached per video for
`media_policy_cache_s` (default 1 s), so a player's burst of segment requests costs one
query; a policy change reaches `/media` within that plus the projector's lag. An object
of a video the catalog does not know (yet) is served as public, as before this feature:
it can only be a package no event has announced.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool

from services.catalog import tokens
from services.shared.signing_keys import SigningKey, SigningKeyring

_POLICY = "SELECT playback_policy, owner FROM videos WHERE video_id = %s"
#: Cached videos at most; the oldest entries go first when it is full.
_MAX_CACHED = 50_000


class KeysLoading(Exception):
    """The signing keys are still being read at start: retry in a moment (503)."""


class PlaybackGuard:
    def __init__(self, pool: AsyncConnectionPool, signing: SigningKeyring, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pool, self.signing, self.ttl_s, self._clock = pool, signing, ttl_s, clock
        self._cache: dict[str, tuple[float, str, str | None]] = {}

    async def policy(self, video_id: str) -> tuple[str, str | None]:
        """(`public` | `signed`, owner) of a video; public when the catalog has no row."""
        at = self._clock()
        hit = self._cache.get(video_id)
        if hit is not None and at - hit[0] < self.ttl_s:
            return hit[1], hit[2]
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_POLICY, (video_id,))).fetchone()
        policy, owner = (row[0], row[1]) if row else ("public", None)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[video_id] = (at, policy, owner)
        return policy, owner

    async def admit(self, key: str, token: str | None, origin: str | None) -> str | None:
        """None for an object anyone may fetch; the token for a signed video's object it
        opens (manifests are rewritten with it); else `tokens.TokenRefused`."""
        video_id = tokens.video_of(key)
        if video_id is None:
            return None
        policy, owner = await self.policy(video_id)
        if policy != "signed":
            return None
        tokens.check(token, video_id, owner, tokens.audience_of(key), self._key_of, origin)
        return token

    async def admit_video(self, video_id: str, token: str | None,
                          origin: str | None) -> None:
        """A `v` token for this video, whatever its policy: what the license service
        needs before it hands out the video's keys (else `tokens.TokenRefused`)."""
        _, owner = await self.policy(video_id)
        tokens.check(token, video_id, owner, tokens.VIDEO, self._key_of, origin)

    def _key_of(self, kid: str) -> SigningKey | None:
        key = self.signing.table.active(kid)
        if key is None and kid not in self.signing.table.by_kid \
                and not self.signing.caught_up.is_set():
            raise KeysLoading(kid)
        return key
