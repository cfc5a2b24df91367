"""Window arithmetic: which windows hold a timestamp, which one the gauges show, expiry."""

import pytest

from services.figures.windows import (
    HOPPING_5M,
    HOPPING_60M,
    MINUTE_MS,
    TUMBLING_1M,
    Scheme,
    WindowKey,
    expired_keys,
)

T = 1_796_160_000_000 + 3 * MINUTE_MS + 30_000  # 30 s into a minute, 3 min past an hour mark


def test_a_tumbling_minute_holds_exactly_its_own_timestamps():
    start = T - 30_000
    assert list(TUMBLING_1M.starts(T)) == [start]
    assert list(TUMBLING_1M.starts(start)) == [start]  # the start is inside
    assert list(TUMBLING_1M.starts(start + MINUTE_MS - 1)) == [start]
    assert list(TUMBLING_1M.starts(start + MINUTE_MS)) == [start + MINUTE_MS]  # the end is not


def test_a_timestamp_falls_in_five_5_minute_windows_and_twelve_60_minute_ones():
    minute = T - 30_000
    assert list(HOPPING_5M.starts(T)) == [minute - k * MINUTE_MS for k in (4, 3, 2, 1, 0)]
    sixty = list(HOPPING_60M.starts(T))
    assert len(sixty) == 12
    assert all(s % (5 * MINUTE_MS) == 0 and s <= T < s + 60 * MINUTE_MS for s in sixty)
    assert sixty[-1] == T - T % (5 * MINUTE_MS)


def test_the_gauges_show_the_window_with_the_most_past_that_still_holds_now():
    # 12:03:30 -> the 5-minute window 11:59-12:04 (four and a half minutes of the past).
    assert HOPPING_5M.fullest(T) == T - 30_000 - 4 * MINUTE_MS
    assert TUMBLING_1M.fullest(T) == T - 30_000


def test_windows_expire_keep_ms_after_they_end_and_old_events_open_none():
    start = TUMBLING_1M.starts(T)[0]
    end = start + MINUTE_MS
    assert not TUMBLING_1M.expired(start, end + TUMBLING_1M.keep_ms - 1)
    assert TUMBLING_1M.expired(start, end + TUMBLING_1M.keep_ms)
    # An event read days later (a first start from the earliest offsets) opens no window.
    assert TUMBLING_1M.live_starts(T, T + 3 * 24 * 3600_000) == []
    # Near the edge only the younger hopping windows are still kept.
    now = HOPPING_5M.starts(T)[0] + 5 * MINUTE_MS + HOPPING_5M.keep_ms
    assert HOPPING_5M.live_starts(T, now) == list(HOPPING_5M.starts(T))[1:]


def test_a_size_that_is_not_a_multiple_of_the_step_is_refused():
    with pytest.raises(ValueError):
        Scheme("bad", 7 * MINUTE_MS, 2 * MINUTE_MS, 0)


def test_a_window_key_round_trips_even_when_the_tenant_contains_the_separator():
    key = WindowKey("5m", 1_796_160_000_000, 4, "team|blue")
    assert key.text() == "5m|1796160000000|4|team|blue"
    assert WindowKey.parse(key.text()) == key


def test_the_sweep_picks_only_its_partitions_expired_windows():
    now = T + 3 * 3600_000
    old_1m = WindowKey("1m", T - 30_000, 2, "a").text()  # ended 3 h ago, kept 2 h: expired
    old_60m = WindowKey("60m", T - T % (5 * MINUTE_MS), 2, "a").text()  # kept 24 h: not
    elsewhere = WindowKey("1m", T - 30_000, 3, "a").text()  # another partition's
    assert expired_keys([old_1m, old_60m, elsewhere], 2, now) == [old_1m]
