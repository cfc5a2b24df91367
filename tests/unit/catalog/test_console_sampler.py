"""Which records the console's sampler looks up for lag in seconds (`unconsumed`)."""

from __future__ import annotations

from services.catalog.console_sampler import unconsumed
from services.shared.group_lag import GroupLag, PartitionLag


def test_only_partitions_with_lag_and_a_committed_offset_are_looked_up() -> None:
    report = [
        GroupLag("a", "kafka", "Empty", [PartitionLag("t", 0, 5, 9), PartitionLag("t", 1, 9, 9),
                                         PartitionLag("t", 2, None, 9)]),
        GroupLag("b", "kafka", "Stable", [PartitionLag("t", 0, 7, 9),
                                          PartitionLag("t", 0, 5, 9)]),
    ]
    assert unconsumed(report) == {("t", 0, 5), ("t", 0, 7)}
