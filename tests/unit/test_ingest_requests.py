"""Ingest's request rules without servers: Idempotency-Key fingerprints and syntax, the
reprocess body, and what a reprocess repeats of a submission."""

from __future__ import annotations

import pytest

from schemas.events import VideoUploaded
from services.ingest.errors import Rejection
from services.ingest.idempotency import Claim, fingerprint, parse_key
from services.ingest.ledger import SUBMISSION_FIELDS, submission_of
from services.ingest.rework import parse_rework


def test_a_fingerprint_depends_on_method_path_and_every_part_unambiguously():
    base = fingerprint("POST", "videos", "abc", "{}", None)
    assert base == fingerprint("POST", "videos", "abc", "{}", None)
    assert base != fingerprint("POST", "videos/import", "abc", "{}", None)
    assert base != fingerprint("POST", "videos", "abc", "{}", "5")
    # Length-prefixed parts: moving bytes between parts changes the print.
    assert fingerprint("POST", "x", "ab", "c") != fingerprint("POST", "x", "a", "bc")


def test_idempotency_keys_are_printable_ascii_up_to_255():
    assert parse_key(None) is None
    assert parse_key("order-42/retry") == "order-42/retry"
    for bad in ("", "has space", "x" * 256, "é"):
        with pytest.raises(Rejection) as caught:
            parse_key(bad)
        assert caught.value.code == "invalid_idempotency_key" and caught.value.status == 422


def test_a_retry_gets_the_first_answer_and_another_request_is_refused():
    claim = Claim("acme", "k1", ("print-1", 202, {"video_id": "v"}))
    assert claim.replayed("print-1") == (202, {"video_id": "v"})
    with pytest.raises(Rejection) as caught:
        claim.replayed("print-2")
    assert caught.value.code == "idempotency_key_reused" and caught.value.status == 422


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


def test_a_reprocess_repeats_the_source_and_metadata_but_not_the_identity():
    event = VideoUploaded.from_record({
        "event_id": "e1", "video_id": "v", "attempt": 2, "occurred_at": 0, "owner": "acme",
        "origin": "upload", "source_uri": "s3://b/k", "source_sha256": "ab",
        "user_metadata_json": '{"title": "t"}', "priority": 7})
    repeated = submission_of(event)
    assert set(repeated) == set(SUBMISSION_FIELDS)
    assert repeated["source_uri"] == "s3://b/k" and repeated["priority"] == 7
    assert not {"event_id", "attempt", "occurred_at", "origin", "owner"} & set(repeated)
