"""The console's Burrow-style status rules (`catalog.lag_status`), one rule at a time, with
the samples written out by hand: (seconds, committed offset, log end, live)."""

from __future__ import annotations

from services.catalog.lag_status import (
    RULES,
    Sample,
    Verdict,
    in_window,
    judge_group,
    judge_partition,
)

WINDOW = 60.0


def samples(*rows: tuple[float, int | None, int, bool]) -> list[Sample]:
    return [Sample(*row) for row in rows]


def judge(*rows: tuple[float, int | None, int, bool], now: float = 100.0) -> Verdict:
    return judge_partition(samples(*rows), now, WINDOW)


def test_the_window_keeps_one_anchor_at_or_before_its_start() -> None:
    kept = in_window(samples((10, 1, 1, True), (30, 2, 2, True), (50, 3, 3, True),
                             (90, 4, 4, True)), now=100, window_s=WINDOW)
    assert [s.at for s in kept] == [30, 50, 90]


def test_a_lag_that_touched_zero_is_ok() -> None:
    assert judge((30, 5, 9, True), (60, 9, 9, True), (99, 9, 14, True)) == Verdict(
        "OK", "touched_zero")


def test_a_group_without_live_members_is_stop_even_with_no_lag() -> None:
    assert judge((30, 9, 9, True), (99, 9, 9, False)).status == "STOP"
    assert judge((99, 3, 9, False)) == Verdict("STOP", "no_members")


def test_stop_keeps_the_lag_it_was_given() -> None:
    rows = samples((99, 3, 9, False))
    assert rows[-1].lag == 6 and judge_partition(rows, 100, WINDOW).status == "STOP"


def test_frozen_offsets_with_lag_over_a_covered_window_stall() -> None:
    assert judge((35, 4, 9, True), (70, 4, 9, True), (99, 4, 12, True)) == Verdict(
        "STALL", "frozen")


def test_frozen_offsets_over_part_of_the_window_are_not_judged_yet() -> None:
    # The oldest sample is younger than the window: not covered, so no STALL or WARN.
    assert judge((70, 4, 9, True), (99, 4, 12, True)) == Verdict("OK", "falling")


def test_a_lag_that_grew_and_never_fell_warns() -> None:
    assert judge((35, 4, 9, True), (70, 6, 12, True), (99, 8, 20, True)) == Verdict(
        "WARN", "never_fell")


def test_a_lag_that_fell_at_some_point_is_ok() -> None:
    assert judge((35, 4, 9, True), (70, 8, 10, True), (99, 9, 20, True)) == Verdict(
        "OK", "falling")


def test_offsets_that_went_backwards_are_an_error() -> None:
    assert judge((35, 8, 9, True), (70, 2, 9, True), (99, 3, 9, True)) == Verdict(
        "ERR", "rewind")


def test_an_offset_past_the_log_end_is_an_error() -> None:
    assert judge((99, 12, 9, True)) == Verdict("ERR", "beyond_end")


def test_an_error_outranks_stop() -> None:
    assert judge((35, 8, 9, True), (99, 2, 9, False)).status == "ERR"


def test_nothing_committed_is_ok_while_live() -> None:
    assert judge((99, None, 9, True)) == Verdict("OK", "idle")


def test_a_rewind_that_left_the_window_is_forgotten() -> None:
    assert judge((10, 8, 9, True), (30, 2, 9, True), (99, 9, 9, True)).status == "OK"


def test_the_group_takes_its_worst_partition() -> None:
    verdicts = [Verdict("OK", "falling"), Verdict("STALL", "frozen"), Verdict("WARN", "never_fell")]
    assert judge_group(verdicts, live=True) == Verdict("STALL", "frozen")


def test_among_equals_the_group_shows_a_judged_lag_not_an_idle_partition() -> None:
    verdicts = [Verdict("OK", "idle"), Verdict("OK", "touched_zero"), Verdict("OK", "idle")]
    assert judge_group(verdicts, live=True) == Verdict("OK", "touched_zero")


def test_a_group_without_partitions_is_stop_without_members() -> None:
    assert judge_group([], live=False) == Verdict("STOP", "no_members")
    assert judge_group([], live=True) == Verdict("OK", "idle")


def test_every_rule_names_its_status() -> None:
    for rule, text in RULES.items():
        assert text.split(":")[0] in ("OK", "WARN", "STALL", "STOP", "ERR"), rule
