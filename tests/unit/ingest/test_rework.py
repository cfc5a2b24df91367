"""When a video can still be cancelled: `rework.ending` over the ledger's facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.errors import Rejection
from services.ingest.ledger import Standing
from services.ingest.rework import ending, parse_rework

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def standing(outcome: str | None = None, cancelled: datetime | None = None,
             started: datetime | None = T0, attempt: int = 1) -> Standing:
    return Standing("acme", attempt, started, outcome, cancelled)


def test_a_running_attempt_has_not_ended():
    assert ending(standing()) is None


def test_a_ready_or_failed_attempt_has_ended_with_that_outcome():
    assert ending(standing("ready")) == "ready"
    assert ending(standing("failed")) == "failed"


def test_a_cancellation_at_or_after_the_attempt_started_ends_it():
    assert ending(standing(cancelled=T0)) == "cancelled"
    assert ending(standing(cancelled=T0 + timedelta(seconds=5))) == "cancelled"


def test_a_reprocess_submitted_after_the_cancellation_is_running_again():
    assert ending(standing(cancelled=T0 - timedelta(milliseconds=1), attempt=2)) is None


def test_an_attempt_of_unknown_start_is_ended_by_any_cancellation():
    # Rows projected before the ledger knew start times: as the catalog judges them.
    assert ending(standing(cancelled=T0, started=None)) == "cancelled"


def test_the_outcome_is_named_even_when_a_later_cancellation_came_too():
    assert ending(standing("ready", cancelled=T0 + timedelta(minutes=1))) == "ready"


def test_the_reprocess_body_is_optional_and_checked():
    assert parse_rework(b"") == {}
    assert parse_rework(b"{}") == {}
    assert parse_rework(b'{"profile": "hevc", "renditions": ["360p"]}') == {
        "profile": "hevc", "renditions": ["360p"]}
    for body, code in ((b"{oops", "invalid_json"), (b"[1]", "invalid_json"),
                       (b'{"ladder": 1}', "invalid_json"),
                       (b'{"profile": "Not A Name!"}', "invalid_profile"),
                       (b'{"renditions": []}', "invalid_renditions"),
                       (b'{"renditions": "360p"}', "invalid_renditions")):
        with pytest.raises(Rejection) as caught:
            parse_rework(body)
        assert caught.value.code == code, body


def test_the_reprocess_body_takes_the_captions_fields():
    assert parse_rework(b'{"captions": false}') == {"captions": False}
    assert parse_rework(b'{"captions_language": "pt-BR", "captions_only": true}') == {
        "captions_language": "pt-BR", "captions_only": True}
    for body, code in ((b'{"captions": "maybe"}', "invalid_captions"),
                       (b'{"captions_language": "not a tag"}', "invalid_captions_language"),
                       (b'{"captions_only": true, "captions": false}', "invalid_captions")):
        with pytest.raises(Rejection) as caught:
            parse_rework(body)
        assert caught.value.code == code, body
