"""Shaping of the console's charts (`catalog.console_charts`): per-minute grids, a
Prometheus matrix and the figures service's windows, against hand-written answers."""

from __future__ import annotations

from services.catalog.console_charts import (
    figure_series,
    minute_grid,
    per_minute,
    prometheus_series,
)

NOW = 7200.0 + 42  # 02:00:42 on day 0


def test_the_grid_is_every_minute_of_the_last_hour() -> None:
    grid = minute_grid(NOW)
    assert len(grid) == 60 and grid[0] == 3660.0 and grid[-1] == 7200.0


def test_rows_land_in_their_minute_and_missing_minutes_are_zero() -> None:
    grid = minute_grid(NOW)
    series = per_minute([(7200.0, "decode_error", 2), (7140.0, "decode_error", 1),
                         (7200.0, "not_avro", 1), (60.0, "too_old", 9)], grid)
    assert set(series) == {"decode_error", "not_avro"}
    assert series["decode_error"][-2:] == [1.0, 2.0] and sum(series["not_avro"]) == 1


def test_a_prometheus_matrix_becomes_one_series_per_label() -> None:
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"group": "transcode"}, "values": [[7140, "3"], [7200, "0.5"]]},
        {"metric": {"group": "packager"}, "values": [[7200, "1"]]}]}}
    series = prometheus_series(answer, "group", minute_grid(NOW))
    assert series["transcode"][-2:] == [3.0, 0.5] and series["packager"][-1] == 1.0


def test_the_figures_windows_become_counts_and_playable_seconds() -> None:
    answer = {"windows": {"1m": [{"start": 7200_000, "end": 7260_000, "overall": {
        "accepted": 4, "ready": 3, "failed_total": 1, "cancelled": 0,
        "playable_p50_ms": 1500, "playable_p95_ms": 4000}}]},
        "current": {"5m": {"overall": {"failure_rate": 0.25}}}}
    shaped = figure_series(answer, NOW)
    assert shaped["counts"]["accepted"][-1] == 4 and shaped["counts"]["failed_total"][-1] == 1
    assert shaped["playable"] == {"playable_p50_s": [0.0] * 59 + [1.5],
                                  "playable_p95_s": [0.0] * 59 + [4.0]}
    assert shaped["failure_rate_5m"] == 0.25
