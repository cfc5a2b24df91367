"""Grouping table slices into windows: per tenant, overall, dead letters, expiry."""

from services.figures.figures import Contribution, Slice, absorb
from services.figures.view import current, windows
from services.figures.windows import MINUTE_MS, WindowKey

START = 1_796_160_000_000
NOW = START + 30_000


def entry(scheme, start, partition, tenant, change, offset=0):
    value = absorb(Slice(), change, "t", offset)
    assert value is not None
    return WindowKey(scheme, start, partition, tenant).text(), value.to_json()


def test_slices_of_one_window_merge_per_tenant_and_overall_with_the_dead_letters():
    pipeline = [
        entry("1m", START, 0, "a", Contribution("a", 0, accepted=1)),
        entry("1m", START, 3, "a", Contribution("a", 0, ready=1, latency_ms=40)),
        entry("1m", START, 1, "b", Contribution("b", 0, failed_code="x")),
        entry("1m", START - MINUTE_MS, 0, "a", Contribution("a", 0, accepted=1)),
    ]
    letters = [entry("1m", START, 2, "unknown", Contribution("u", 0, dead_letter_code="d"))]
    view = windows(pipeline, letters, NOW)
    assert [w["start"] for w in view["1m"]] == [START - MINUTE_MS, START]
    window = view["1m"][1]
    assert window["end"] == START + MINUTE_MS
    assert set(window["tenants"]) == {"a", "b"}
    assert window["tenants"]["a"]["accepted"] == 1 and window["tenants"]["a"]["ready"] == 1
    assert window["tenants"]["a"]["playable_p50_ms"] == 40
    assert window["overall"]["failure_rate"] == 0.5
    assert window["overall"]["dead_letters"] == {"d": 1}
    assert window["tenants"]["a"]["dead_letters"] == {}
    assert view["5m"] == [] and view["60m"] == []


def test_expired_windows_are_not_served_and_current_picks_the_shown_window():
    old = START - 3 * 3600_000
    view = windows([entry("1m", old, 0, "a", Contribution("a", 0, accepted=1)),
                    entry("5m", START - 4 * MINUTE_MS, 0, "a", Contribution("a", 0, accepted=2))],
                   [], NOW)
    assert view["1m"] == []
    shown = current(view, NOW)
    assert shown["1m"] is None and shown["60m"] is None
    assert shown["5m"]["overall"]["accepted"] == 2
