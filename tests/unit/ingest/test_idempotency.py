"""Idempotency-Key rules without servers: fingerprints, key syntax, and replaying a claim."""

from __future__ import annotations

import pytest

from services.ingest.errors import Rejection
from services.ingest.idempotency import Claim, fingerprint, parse_key


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
