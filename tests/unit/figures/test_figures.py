"""Slices: what a contribution adds, the replay guard, merging and the summary."""

from services.figures.figures import Contribution, Slice, absorb, failure_rate, merge, summary

UPLOAD = Contribution("acme", 0, accepted=1, bytes_in=500)
READY = Contribution("acme", 0, ready=1, bytes_out=9_000, latency_ms=1_500)
FAILED = Contribution("acme", 0, failed_code="undecodable_source")


def test_absorbing_adds_each_figure_and_records_the_offset():
    s = absorb(Slice(), UPLOAD, "video-uploaded", 3)
    s = absorb(s, READY, "video-transcoded", 8)
    s = absorb(s, FAILED, "transcode-failed", 0)
    assert (s.accepted, s.ready, s.bytes_in, s.bytes_out) == (1, 1, 500, 9_000)
    assert s.failed == {"undecodable_source": 1}
    assert s.latency_ms == {1_472: 1}  # the bucket of 1500 (width 32)
    assert s.applied == {"video-uploaded": 3, "video-transcoded": 8, "transcode-failed": 0}


def test_a_record_read_again_after_a_crash_is_not_counted_twice():
    once = absorb(Slice(), UPLOAD, "video-uploaded", 3)
    assert once is not None
    assert absorb(once, UPLOAD, "video-uploaded", 3) is None
    assert absorb(once, UPLOAD, "video-uploaded", 2) is None
    # Offsets are per topic: the same offset on another topic is another record.
    assert absorb(once, READY, "video-transcoded", 3) is not None


def test_absorbing_leaves_the_stored_value_untouched():
    before = absorb(Slice(), FAILED, "transcode-failed", 0)
    assert before is not None
    absorb(before, FAILED, "transcode-failed", 1)
    assert before.failed == {"undecodable_source": 1}


def test_a_slice_survives_its_json_form():
    s = absorb(absorb(Slice(), READY, "video-transcoded", 1), FAILED, "transcode-failed", 4)
    assert s is not None
    assert Slice.from_json(s.to_json()) == s
    assert Slice.from_json(None) == Slice()


def test_merge_adds_counts_codes_and_histograms():
    a = absorb(absorb(Slice(), READY, "t", 1), FAILED, "f", 1)
    b = absorb(absorb(Slice(), READY, "t", 1), Contribution("x", 0, failed_code="other"), "f", 1)
    assert a is not None and b is not None
    total = merge([a, b])
    assert total.ready == 2 and total.failed == {"undecodable_source": 1, "other": 1}
    assert total.latency_ms == {1_472: 2}


def test_the_failure_rate_is_failed_over_finished_and_absent_when_nothing_finished():
    assert failure_rate(Slice()) is None
    assert failure_rate(Slice(accepted=10)) is None
    assert failure_rate(Slice(ready=3, failed={"a": 1})) == 0.25
    figures = summary(Slice(ready=3, failed={"b": 2, "a": 1}))
    assert figures["failed_total"] == 3 and figures["failure_rate"] == 0.5
    assert list(figures["failed"]) == ["a", "b"]
    assert figures["playable_p50_ms"] is None and figures["playable_count"] == 0
