"""What an attempt's outcome means: delivered, retried on the schedule, or failed (and
when the endpoint is disabled)."""

from datetime import UTC, datetime, timedelta

from services.webhooks.schedule import Outcome, decide
from services.webhooks.settings import SVIX_SCHEDULE_S

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAYS5 = 5 * 86400.0


def test_a_2xx_is_delivered():
    for status in (200, 201, 204, 299):
        assert decide(1, Outcome(status), SVIX_SCHEDULE_S, None, NOW, DAYS5).action == "delivered"


def test_failures_are_retried_after_each_wait_of_the_schedule_then_fail():
    waits = []
    for attempt in range(1, len(SVIX_SCHEDULE_S) + 1):
        verdict = decide(attempt, Outcome(500), SVIX_SCHEDULE_S, NOW, NOW, DAYS5)
        assert verdict.action == "retry" and verdict.disable is None
        waits.append((verdict.next_at - NOW).total_seconds())
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert sum(waits) >= 24 * 3600  # retried for at least a day
    last = decide(len(SVIX_SCHEDULE_S) + 1, Outcome(500), SVIX_SCHEDULE_S, NOW, NOW, DAYS5)
    assert last.action == "failed" and last.disable is None


def test_timeouts_redirects_and_refused_addresses_are_failures_too():
    for outcome in (Outcome(None, "timeout"), Outcome(302, "redirect_refused"),
                    Outcome(None, "url_address_refused"), Outcome(404), Outcome(429)):
        assert decide(1, outcome, SVIX_SCHEDULE_S, None, NOW, DAYS5).action == "retry"


def test_410_gone_fails_the_delivery_and_disables_the_endpoint_at_once():
    verdict = decide(1, Outcome(410), SVIX_SCHEDULE_S, None, NOW, DAYS5)
    assert (verdict.action, verdict.disable) == ("failed", "gone")


def test_an_endpoint_failing_for_five_days_is_disabled_and_not_a_second_sooner():
    almost = NOW - timedelta(days=5) + timedelta(seconds=1)
    assert decide(2, Outcome(500), SVIX_SCHEDULE_S, almost, NOW, DAYS5).disable is None
    verdict = decide(2, Outcome(500), SVIX_SCHEDULE_S, NOW - timedelta(days=5), NOW, DAYS5)
    assert (verdict.action, verdict.disable) == ("failed", "failing")
