"""The console's memory (`catalog.console_history`): statuses follow the samples, a group
without members keeps its rows and lag, and throughput is the log end's rate."""

from __future__ import annotations

from services.catalog.console_history import ConsoleHistory, Reading
from services.shared.group_lag import GroupLag, Member, PartitionLag


def report(current: int, end: int, live: bool) -> list[GroupLag]:
    members = (Member("m-1", "packager-1", "/127.0.0.1", (("rendition-done", 0),)),) if live \
        else ()
    return [GroupLag("packager", "kafka", "Stable" if live else "Empty",
                     [PartitionLag("rendition-done", 0, current, end)], members)]


def test_a_stopped_group_keeps_its_row_and_lag_and_turns_stop() -> None:
    history = ConsoleHistory(window_s=10)
    history.record(Reading(100.0, report(5, 5, live=True)))
    history.record(Reading(102.0, report(5, 9, live=False), {("rendition-done", 0, 5): 1.5}))
    [group] = history.groups()
    assert group["status"] == "STOP" and group["total_lag"] == 4 and group["members"] == []
    [row] = group["partitions"]
    assert (row["current_offset"], row["log_end_offset"], row["lag"], row["lag_seconds"]) == (
        5, 9, 4, 1.5)
    assert row["rule"].startswith("STOP")


def test_back_to_ok_once_the_lag_is_worked_off() -> None:
    history = ConsoleHistory(window_s=10)
    history.record(Reading(100.0, report(5, 9, live=False)))
    history.record(Reading(102.0, report(7, 9, live=True)))
    history.record(Reading(104.0, report(9, 9, live=True)))
    assert history.groups()[0]["status"] == "OK"
    assert history.groups()[0]["partitions"][0]["lag_seconds"] == 0.0


def test_throughput_is_the_log_ends_rate_per_topic() -> None:
    history = ConsoleHistory(window_s=10)
    history.record(Reading(100.0, report(0, 10, live=True)))
    history.record(Reading(105.0, report(0, 30, live=True)))
    history.record(Reading(110.0, report(0, 30, live=True)))
    chart = history.throughput()
    assert chart["times"] == [105.0, 110.0]
    assert chart["series"] == {"rendition-done": [4.0, 0.0]}


def test_samples_older_than_the_window_are_dropped_but_one_anchor() -> None:
    history = ConsoleHistory(window_s=10)
    for at in range(100, 140, 2):
        history.record(Reading(float(at), report(at, at + 5, live=True)))
    kept = history._samples[("packager", "rendition-done", 0)]  # noqa: SLF001
    assert kept[0].at <= 138 - 10 < kept[1].at
