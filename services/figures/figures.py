"""What each pipeline event adds to a window, and the window's figures: pure, no Kafka.

A *slice* holds one window's counts for one tenant, as absorbed from one source partition.
It remembers the last offset it absorbed from each topic: a record read again after a crash
(its offset was not committed yet, but the slice already reached the changelog) is absorbed
at most once per slice. Slices merge by addition, so a window's figures over partitions and
tenants are a merge, and so are the 5- and 60-minute percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from services.figures import histogram
from services.figures.histogram import Histogram

#: Tenant of a video whose video-uploaded carried no owner, or was never seen.
UNKNOWN_TENANT = "unknown"
#: The label of the overall figures (all tenants, and the dead letters).
ALL_TENANTS = "*"


@dataclass(frozen=True)
class Owner:
    """What the figures remember of a video from its video-uploaded."""

    tenant: str
    uploaded_at: int

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "uploaded_at": self.uploaded_at}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Owner:
        return Owner(data["tenant"], int(data["uploaded_at"]))


@dataclass
class Slice:
    accepted: int = 0
    ready: int = 0
    cancelled: int = 0
    renditions: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    latency_ms: Histogram = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    #: topic -> last offset absorbed (only within the slice's own source partition)
    applied: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # New dicts throughout: the result becomes a table value, never shared with a slice.
        data = {f.name: _copied(getattr(self, f.name)) for f in fields(self)}
        data["latency_ms"] = {str(k): v for k, v in self.latency_ms.items()}
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> Slice:
        if not data:
            return Slice()
        kept = {f.name: _copied(data[f.name]) for f in fields(Slice) if f.name in data}
        kept["latency_ms"] = {int(k): v for k, v in data.get("latency_ms", {}).items()}
        return Slice(**kept)


def _copied(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Contribution:
    """What one event adds to every window it falls in."""

    tenant: str
    occurred_at: int
    accepted: int = 0
    ready: int = 0
    cancelled: int = 0
    renditions: int = 0
    failed_code: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    latency_ms: int | None = None
    dead_letter_code: str | None = None


def absorb(current: Slice, change: Contribution, topic: str, offset: int) -> Slice | None:
    """The slice with `change` added, or None when this record was absorbed already."""
    if current.applied.get(topic, -1) >= offset:
        return None
    added = merge([current, _as_slice(change)])  # a new value: a stored one is never mutated
    added.applied = {**current.applied, topic: offset}
    return added


def _as_slice(change: Contribution) -> Slice:
    one = Slice(accepted=change.accepted, ready=change.ready, cancelled=change.cancelled,
                renditions=change.renditions, bytes_in=change.bytes_in,
                bytes_out=change.bytes_out)
    if change.failed_code is not None:
        one.failed[change.failed_code] = 1
    if change.dead_letter_code is not None:
        one.dead_letters[change.dead_letter_code] = 1
    if change.latency_ms is not None:
        histogram.record(one.latency_ms, change.latency_ms)
    return one


def _add_counts(into: dict[str, int], more: Mapping[str, int]) -> None:
    for key, count in more.items():
        into[key] = into.get(key, 0) + count


def merge(slices: Iterable[Slice]) -> Slice:
    total = Slice()
    hists = []
    for part in slices:
        total.accepted += part.accepted
        total.ready += part.ready
        total.cancelled += part.cancelled
        total.renditions += part.renditions
        total.bytes_in += part.bytes_in
        total.bytes_out += part.bytes_out
        _add_counts(total.failed, part.failed)
        _add_counts(total.dead_letters, part.dead_letters)
        hists.append(part.latency_ms)
    total.latency_ms = histogram.merge(hists)
    return total


def failure_rate(window: Slice) -> float | None:
    """Failed over finished (ready + failed) in the window; None when nothing finished."""
    failed = sum(window.failed.values())
    finished = window.ready + failed
    return failed / finished if finished else None


def summary(window: Slice) -> dict[str, Any]:
    """A window's figures as the console page and the gauges show them."""
    return {
        "accepted": window.accepted,
        "ready": window.ready,
        "failed": dict(sorted(window.failed.items())),
        "failed_total": sum(window.failed.values()),
        "cancelled": window.cancelled,
        "renditions": window.renditions,
        "failure_rate": failure_rate(window),
        "playable_count": sum(window.latency_ms.values()),
        "playable_p50_ms": histogram.percentile(window.latency_ms, 0.5),
        "playable_p95_ms": histogram.percentile(window.latency_ms, 0.95),
        "bytes_in": window.bytes_in,
        "bytes_out": window.bytes_out,
        "dead_letters": dict(sorted(window.dead_letters.items())),
    }
