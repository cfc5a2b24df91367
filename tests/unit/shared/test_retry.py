"""The retry policy's decisions, against schedules written out by hand."""

from aiokafka.errors import KafkaConnectionError
from botocore.exceptions import EndpointConnectionError

from services.shared.consume import PermanentFailure
from services.shared.retry import RetryPolicy, Tries, decide

LOOP = RetryPolicy(max_attempts=3, backoff_base_s=1.0, backoff_max_s=30.0,
                   outage_patience_s=600.0, permanent=(PermanentFailure,))


def test_a_permanent_failure_is_given_up_on_at_the_first_attempt() -> None:
    decision = decide(LOOP, Tries(), PermanentFailure("corrupt_source", "no video stream"))
    assert decision.action == "permanent" and decision.delay_s == 0
    assert decision.tries.attempts == 1


def test_transient_failures_back_off_doubling_then_are_exhausted_at_max_attempts() -> None:
    tries, seen = Tries(), []
    for _ in range(3):
        decision = decide(LOOP, tries, ValueError("flaky"))
        seen.append((decision.action, decision.delay_s, decision.tries.attempts))
        tries = decision.tries
    assert seen == [("retry", 1.0, 1), ("retry", 2.0, 2), ("exhausted", 0.0, 3)]


def test_backoff_stops_growing_at_its_cap() -> None:
    policy = RetryPolicy(max_attempts=None, backoff_base_s=0.5, backoff_max_s=10.0)
    tries, delays = Tries(), []
    for _ in range(8):
        decision = decide(policy, tries, ValueError("flaky"))
        delays.append(decision.delay_s)
        tries = decision.tries
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_retrying_forever_never_exhausts_nor_overflows() -> None:
    policy = RetryPolicy(max_attempts=None, backoff_base_s=0.5, backoff_max_s=10.0)
    decision = decide(policy, Tries(attempts=100_000), ValueError("still down"))
    assert decision.action == "retry" and decision.delay_s == 10.0


def test_an_outage_is_waited_out_without_spending_attempts() -> None:
    tries, delays = Tries(attempts=2), []
    for _ in range(5):
        decision = decide(LOOP, tries, KafkaConnectionError("broker away"))
        assert decision.action == "retry" and decision.outage
        delays.append(decision.delay_s)
        tries = decision.tries
    # At least the base; then half the time waited so far: 1, 1, 1, 1.5, 2.25.
    assert delays == [1.0, 1.0, 1.0, 1.5, 2.25]
    assert tries.attempts == 2 and tries.waited_s == 6.75


def test_an_outage_past_the_patience_spends_attempts_again() -> None:
    decision = decide(LOOP, Tries(attempts=2, waited_s=600.0),
                      EndpointConnectionError(endpoint_url="http://s3"))
    assert decision.action == "exhausted" and not decision.outage


def test_an_outage_raised_from_inside_a_handler_error_counts_as_an_outage() -> None:
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("upload failed") from inner
    except RuntimeError as outer:
        decision = decide(LOOP, Tries(), outer)
    assert decision.outage and decision.tries.attempts == 0


def test_with_transient_types_anything_else_is_permanent() -> None:
    policy = RetryPolicy(max_attempts=None, transient=(TimeoutError,))
    assert decide(policy, Tries(), TimeoutError()).action == "retry"
    assert decide(policy, Tries(), KeyError("bug")).action == "permanent"


def test_without_outage_patience_an_outage_counts_as_an_attempt() -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.5)
    first = decide(policy, Tries(), KafkaConnectionError("away"))
    assert (first.action, first.delay_s, first.outage) == ("retry", 0.5, False)
    assert decide(policy, first.tries, KafkaConnectionError("away")).action == "exhausted"
