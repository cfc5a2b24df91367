"""Burrow-style status of a consumer group's partitions, judged over a sliding window of lag
samples rather than by a threshold (a steady backlog that is being worked off is fine; a
small one that nobody touches is not).

Per partition, the first rule that holds decides, in this order:

  ERR    the committed offset went backwards in the window, or lies past the log end
  STOP   the group has no live member: nobody consumes, whatever the lag
  OK     the lag touched 0 in the window
  STALL  the window is covered, the lag is above 0 throughout and the offset never moved
  WARN   the window is covered and the lag never fell (it grew from first to last sample)
  OK     otherwise: there is lag, and it is being worked off

"Covered" means the samples reach back a whole window (one sample at or before its start),
so a consumer that just started is not judged on a few seconds. The group's status is its
worst partition's, with that partition's rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Worst last: a group is as bad as its worst partition.
SEVERITY = ("OK", "WARN", "STALL", "STOP", "ERR")

RULES = {
    "rewind": "ERR: the committed offset went backwards within the window",
    "beyond_end": "ERR: the committed offset is past the log end",
    "no_members": "STOP: the group has no live member, nobody consumes",
    "touched_zero": "OK: the lag touched 0 within the window",
    "frozen": "STALL: offset unchanged for the whole window while lag > 0",
    "never_fell": "WARN: the lag grew over the window and never fell",
    "falling": "OK: there is lag and it is being worked off",
    "idle": "OK: nothing committed and nothing assigned yet",
}


@dataclass(frozen=True)
class Sample:
    """One reading of a partition: when (seconds, any clock), the committed offset (None:
    nothing committed), the log end, and whether the group had a live member then."""

    at: float
    committed: int | None
    log_end: int
    live: bool

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(0, self.log_end - self.committed)


@dataclass(frozen=True)
class Verdict:
    status: str
    rule: str

    @property
    def explanation(self) -> str:
        return RULES[self.rule]


def in_window(samples: Sequence[Sample], now: float, window_s: float) -> list[Sample]:
    """The samples of the window ending at `now`, plus the newest one at or before its
    start (the anchor that shows whether the samples cover the whole window)."""
    start = now - window_s
    older = [s for s in samples if s.at <= start]
    return ([older[-1]] if older else []) + [s for s in samples if s.at > start]


def judge_partition(samples: Sequence[Sample], now: float, window_s: float) -> Verdict:
    """The status of one partition from its samples (oldest first; at least one)."""
    window = in_window(samples, now, window_s)
    if not window:
        window = [samples[-1]]
    newest = window[-1]
    offsets = [s.committed for s in window if s.committed is not None]
    if any(later < earlier for earlier, later in zip(offsets, offsets[1:], strict=False)):
        return Verdict("ERR", "rewind")
    if newest.committed is not None and newest.committed > newest.log_end:
        return Verdict("ERR", "beyond_end")
    if not newest.live:
        return Verdict("STOP", "no_members")
    lags = [s.lag for s in window if s.lag is not None]
    if not lags:
        return Verdict("OK", "idle")
    if 0 in lags:
        return Verdict("OK", "touched_zero")
    covered = window[0].at <= now - window_s
    if covered and len(set(offsets)) == 1:
        return Verdict("STALL", "frozen")
    if covered and lags[-1] > lags[0] and all(b >= a for a, b in zip(lags, lags[1:],
                                                                      strict=False)):
        return Verdict("WARN", "never_fell")
    return Verdict("OK", "falling")


def judge_group(partitions: Sequence[Verdict], live: bool) -> Verdict:
    """The worst partition's verdict (among equals, one that judged a lag over one that
    found nothing committed); a group without partitions is STOP without members."""
    if not partitions:
        return Verdict("OK", "idle") if live else Verdict("STOP", "no_members")
    return max(partitions, key=lambda v: (SEVERITY.index(v.status), v.rule != "idle"))
