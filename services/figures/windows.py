"""Event-time window arithmetic: which windows a timestamp falls in, and which are still kept.

A scheme is a window size and a step: tumbling when they are equal, hopping when the step is
shorter (a 5-minute window starting every minute). Windows are half-open, `[start, start +
size)`, and every start is a multiple of the step, so the windows of a scheme are the same in
every process and after every restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True)
class Scheme:
    name: str
    size_ms: int
    step_ms: int
    #: How long a window is kept after it ends (then it is deleted from table and changelog).
    keep_ms: int

    def __post_init__(self) -> None:
        if self.step_ms <= 0 or self.size_ms % self.step_ms:
            raise ValueError(f"{self.name}: the size must be a multiple of the step")

    def starts(self, ts_ms: int) -> range:
        """Starts of every window that contains `ts_ms`, oldest first."""
        last = ts_ms - ts_ms % self.step_ms
        return range(last - self.size_ms + self.step_ms, last + 1, self.step_ms)

    def fullest(self, now_ms: int) -> int:
        """The window that contains `now_ms` and has seen the most of the past: the one the
        gauges show ("the last 5 minutes" is the 5-minute window that ends next)."""
        return self.starts(now_ms)[0]

    def expired(self, start_ms: int, now_ms: int) -> bool:
        return start_ms + self.size_ms + self.keep_ms <= now_ms

    def live_starts(self, ts_ms: int, now_ms: int) -> list[int]:
        """The windows of `ts_ms` that are not expired at `now_ms`: an old event read on a
        first start (the topics keep 30 days) must not resurrect windows long deleted."""
        return [s for s in self.starts(ts_ms) if not self.expired(s, now_ms)]


TUMBLING_1M = Scheme("1m", MINUTE_MS, MINUTE_MS, keep_ms=2 * HOUR_MS)
HOPPING_5M = Scheme("5m", 5 * MINUTE_MS, MINUTE_MS, keep_ms=2 * HOUR_MS)
HOPPING_60M = Scheme("60m", HOUR_MS, 5 * MINUTE_MS, keep_ms=24 * HOUR_MS)
SCHEMES: tuple[Scheme, ...] = (TUMBLING_1M, HOPPING_5M, HOPPING_60M)


@dataclass(frozen=True)
class WindowKey:
    """A table key: one window of one scheme, for one tenant, from one source partition.

    The partition is part of the key so that every write to a key comes from one source
    partition, and so lands on one changelog partition: a delete there really removes it.
    """

    scheme: str
    start: int
    partition: int
    tenant: str

    def text(self) -> str:
        return f"{self.scheme}|{self.start}|{self.partition}|{self.tenant}"

    @staticmethod
    def parse(text: str) -> WindowKey:
        scheme, start, partition, tenant = text.split("|", 3)  # a tenant may contain "|"
        return WindowKey(scheme, int(start), int(partition), tenant)


def expired_keys(keys: Iterable[str], partition: int, now_ms: int) -> list[str]:
    """The keys of `partition` whose windows are expired at `now_ms` (to delete them)."""
    schemes = {s.name: s for s in SCHEMES}
    found = []
    for text in keys:
        key = WindowKey.parse(text)
        if key.partition == partition and schemes[key.scheme].expired(key.start, now_ms):
            found.append(text)
    return found
