"""Pure: what an attempt's outcome means for its delivery and its endpoint.

- 2xx: delivered.
- 410 Gone: the receiver says the endpoint is gone for good: the delivery fails and the
  endpoint is disabled (reason `gone`).
- Anything else (another status, a redirect, a timeout, a refused or unreachable address):
  retried after the schedule's next wait; once the schedule is spent the delivery fails.
- An endpoint that has failed without one success in between for `disable_after_s` is
  disabled (reason `failing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Action = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class Outcome:
    """One attempt: the answer's status (None: no answer) or the coded error."""

    status: int | None
    error: str | None = None
    latency_ms: float = 0.0
    response: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Verdict:
    action: Action
    #: When to try again (retry only).
    next_at: datetime | None = None
    #: Disable the endpoint, and why (`gone`, `failing`).
    disable: str | None = None


def decide(attempts_made: int, outcome: Outcome, schedule: tuple[float, ...],
           failing_since: datetime | None, now: datetime, disable_after_s: float) -> Verdict:
    """`attempts_made` counts the attempt whose `outcome` this is; `failing_since` is when
    the endpoint's current run of failures began (None: its last attempt succeeded)."""
    if outcome.succeeded:
        return Verdict("delivered")
    if outcome.status == 410:
        return Verdict("failed", disable="gone")
    since = failing_since or now
    if (now - since).total_seconds() >= disable_after_s:
        return Verdict("failed", disable="failing")
    if attempts_made > len(schedule):
        return Verdict("failed")
    return Verdict("retry", next_at=now + timedelta(seconds=schedule[attempts_made - 1]))
