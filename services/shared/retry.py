"""When to try a failed piece of work again, and after how long: pure decisions, no I/O.

Three kinds of failure:
- permanent: retrying cannot help (a `PermanentFailure`, or anything outside the policy's
  `transient` types); the caller gives up at once;
- an outage (a dependency away, see `outages`): waited out for up to `outage_patience_s`
  without spending an attempt, so a restart of S3 or Kafka fails no work;
- any other transient failure: retried with exponential backoff, capped, until
  `max_attempts` were spent (never, when it is None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.shared.outages import is_outage

#: Beyond this exponent the backoff is at its cap anyway; it keeps 2**n from overflowing
#: a float after days of retrying.
_MAX_EXPONENT = 32


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts before a transient failure is given up on; None retries forever.
    max_attempts: int | None = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    #: How long outages are waited out before they count as attempts (0: they count).
    outage_patience_s: float = 0.0
    #: Errors retrying cannot help.
    permanent: tuple[type[BaseException], ...] = ()
    #: Errors worth retrying; None means every error that is not `permanent`.
    transient: tuple[type[BaseException], ...] | None = None


@dataclass(frozen=True)
class Tries:
    """What was spent on one piece of work so far."""

    #: Failed attempts that counted (outages waited out do not).
    attempts: int = 0
    #: Seconds spent waiting out outages.
    waited_s: float = 0.0


@dataclass(frozen=True)
class Decision:
    action: Literal["retry", "permanent", "exhausted"]
    #: Pause before the next try (0 unless retrying).
    delay_s: float
    #: What is spent after this failure: pass it to the next `decide`.
    tries: Tries
    #: The failure was an outage being waited out (no attempt spent).
    outage: bool = False


def is_permanent(policy: RetryPolicy, error: BaseException) -> bool:
    if isinstance(error, policy.permanent):
        return True
    return policy.transient is not None and not isinstance(error, policy.transient)


def backoff(policy: RetryPolicy, attempts: int) -> float:
    """The pause after the `attempts`-th failed attempt: base, 2 x base, 4 x base, … cap."""
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    return float(min(policy.backoff_max_s, policy.backoff_base_s * 2 ** exponent))


def decide(policy: RetryPolicy, tries: Tries, error: BaseException) -> Decision:
    """What to do after `error`, given what was spent before it."""
    if is_permanent(policy, error):
        return Decision("permanent", 0.0, Tries(tries.attempts + 1, tries.waited_s))
    if is_outage(error) and tries.waited_s < policy.outage_patience_s:
        # The pause grows with the outage so far: short blips retry fast, long ones slowly.
        delay = min(policy.backoff_max_s, max(policy.backoff_base_s, tries.waited_s / 2))
        return Decision("retry", delay, Tries(tries.attempts, tries.waited_s + delay),
                        outage=True)
    attempts = tries.attempts + 1
    spent = Tries(attempts, tries.waited_s)
    if policy.max_attempts is not None and attempts >= policy.max_attempts:
        return Decision("exhausted", 0.0, spent)
    return Decision("retry", backoff(policy, attempts), spent)
