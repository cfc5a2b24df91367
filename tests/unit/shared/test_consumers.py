"""The shared consumer configuration (read back from the clients, nothing started)."""

import asyncio

from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.shared.consumers import new_consumer


def _config(**kwargs: object) -> tuple[object, ...]:
    async def build() -> tuple[object, ...]:
        c = new_consumer("127.0.0.1:1", **kwargs)  # type: ignore[arg-type]
        return (c._group_id, c._enable_auto_commit, c._isolation_level,
                c._partition_assignment_strategy, c._session_timeout_ms,
                c._heartbeat_interval_ms)
    return asyncio.run(build())


def test_a_group_member_commits_itself_reads_committed_and_heartbeats_at_a_quarter() -> None:
    group, auto_commit, isolation, strategy, session, heartbeat = _config(
        group_id="transcode", session_timeout_ms=20000)
    assert (group, auto_commit, isolation) == ("transcode", False, "read_committed")
    assert (session, heartbeat) == (20000, 5000)
    assert RangePartitionAssignor not in strategy


def test_range_assignment_and_high_watermark_readers_are_opt_in() -> None:
    group, auto_commit, isolation, strategy, _, _ = _config(
        range_assignment=True, committed_only=False)
    assert group is None and auto_commit is False and isolation == "read_uncommitted"
    assert tuple(strategy) == (RangePartitionAssignor,)
