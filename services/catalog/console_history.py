"""What the operations console remembers between requests: lag samples per group and
partition (for the status rules' sliding window) and the topics' log ends over the last
hour (for throughput), as read by `console_sampler`. Plain data in memory, no I/O: it starts
empty when the catalog starts, like any in-process gauge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.catalog.lag_status import RULES, Sample, Verdict, judge_group, judge_partition
from services.shared.group_lag import IDLE_STATES, GroupLag

PartitionKey = tuple[str, str, int]  # group, topic, partition


@dataclass
class Reading:
    """One sampling round: the lag report, the age (s) of the oldest unconsumed record per
    (topic, partition, committed offset), and when it was taken (epoch seconds)."""

    at: float
    report: Sequence[GroupLag]
    ages: Mapping[tuple[str, int, int], float] = field(default_factory=dict)


class ConsoleHistory:
    def __init__(self, window_s: float, keep_s: float = 3600.0) -> None:
        self.window_s = window_s
        self.keep_s = max(keep_s, window_s)
        self._samples: dict[PartitionKey, deque[Sample]] = {}
        self._ends: deque[tuple[float, dict[str, int]]] = deque()
        self.latest: Reading | None = None
        self.error: str | None = None

    def record(self, reading: Reading) -> None:
        now, horizon = reading.at, reading.at - self.keep_s
        self.latest, self.error = reading, None
        seen: set[PartitionKey] = set()
        ends: dict[tuple[str, int], int] = {}
        for group in reading.report:
            live = is_live(group)
            for p in group.partitions:
                key = (group.group, p.topic, p.partition)
                seen.add(key)
                self._samples.setdefault(key, deque()).append(
                    Sample(now, p.current, p.log_end, live))
                ends[(p.topic, p.partition)] = p.log_end
        for key in list(self._samples):
            kept = self._samples[key]
            # Keep one sample older than the window: the anchor the rules need.
            while len(kept) > 1 and kept[1].at <= now - self.window_s:
                kept.popleft()
            if key not in seen and (not kept or kept[-1].at < horizon):
                del self._samples[key]
        per_topic: dict[str, int] = {}
        for (topic, _), end in ends.items():
            per_topic[topic] = per_topic.get(topic, 0) + end
        self._ends.append((now, per_topic))
        while self._ends and self._ends[0][0] < horizon:
            self._ends.popleft()

    def groups(self) -> list[dict[str, Any]]:
        """The newest reading per group and partition, with each one's status and rule."""
        reading = self.latest
        if reading is None:
            return []
        out = []
        for group in reading.report:
            rows: list[dict[str, Any]] = []
            verdicts: list[Verdict] = []
            ages: list[float] = []
            for p in group.partitions:
                samples = self._samples.get((group.group, p.topic, p.partition))
                verdict = (judge_partition(list(samples), reading.at, self.window_s)
                           if samples else Verdict("OK", "idle"))
                verdicts.append(verdict)
                owner = group.owner(p.topic, p.partition)
                age = self._age(reading, p.topic, p.partition, p.current, p.lag)
                if age is not None:
                    ages.append(age)
                rows.append({"topic": p.topic, "partition": p.partition,
                             "current_offset": p.current, "log_end_offset": p.log_end,
                             "lag": p.lag, "lag_seconds": age,
                             "consumer_id": owner.member_id if owner else None,
                             "host": owner.host if owner else None,
                             "client_id": owner.client_id if owner else None,
                             "status": verdict.status, "rule": verdict.explanation})
            overall = judge_group(verdicts, is_live(group))
            out.append({"group": group.group, "source": group.source, "state": group.state,
                        "members": [{"member_id": m.member_id, "client_id": m.client_id,
                                     "host": m.host} for m in group.members],
                        "total_lag": group.total,
                        "max_lag_seconds": max(ages, default=0.0),
                        "status": overall.status, "rule": overall.explanation,
                        "partitions": rows})
        return out

    @staticmethod
    def _age(reading: Reading, topic: str, partition: int, current: int | None,
             lag: int | None) -> float | None:
        """Seconds the oldest unconsumed record has waited: 0 without lag, None when
        nothing was committed or the record could not be read."""
        if lag == 0:
            return 0.0
        if lag is None or current is None:
            return None
        return reading.ages.get((topic, partition, current))

    def throughput(self) -> dict[str, Any]:
        """Records per second written to each topic between consecutive readings."""
        points = list(self._ends)
        times: list[float] = []
        series: dict[str, list[float | None]] = {}
        for (t0, before), (t1, after) in zip(points, points[1:], strict=False):
            if t1 <= t0:
                continue
            times.append(t1)
            for topic in sorted(set(before) | set(after)):
                column = series.setdefault(topic, [None] * (len(times) - 1))
                column.extend([None] * (len(times) - 1 - len(column)))
                if topic in before and topic in after:
                    column.append(max(0, after[topic] - before[topic]) / (t1 - t0))
                else:
                    column.append(None)
        for column in series.values():
            column.extend([None] * (len(times) - len(column)))
        return {"times": times, "series": series, "unit": "records/s"}


def is_live(group: GroupLag) -> bool:
    """Someone consumes: the group has members and is not in an idle state."""
    return bool(group.members) and group.state not in IDLE_STATES


def rules() -> dict[str, str]:
    return dict(RULES)
