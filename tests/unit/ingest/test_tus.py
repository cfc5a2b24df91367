"""The tus 1.0 header rules, against the protocol text (tus.io/protocols/resumable-upload)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest import tus
from services.ingest.errors import Rejection


def _refused(call, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(Rejection) as caught:
        call(*args)
    return caught.value


def test_discovery_names_version_extensions_and_max_size() -> None:
    headers = tus.discovery_headers(1234)
    assert headers["Tus-Version"] == "1.0.0"
    assert headers["Tus-Max-Size"] == "1234"
    assert set(headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "checksum", "expiration"}
    assert "sha1" in headers["Tus-Checksum-Algorithm"].split(",")


def test_another_protocol_version_gets_412() -> None:
    tus.check_version("1.0.0")
    assert _refused(tus.check_version, "0.2.2").status == 412
    assert _refused(tus.check_version, None).status == 412


def test_length_must_be_a_positive_integer_within_the_maximum() -> None:
    assert tus.parse_length("100", None, 100) == 100
    assert _refused(tus.parse_length, "101", None, 100).status == 413
    assert _refused(tus.parse_length, "-1", None, 100).status == 400
    assert _refused(tus.parse_length, "1e3", None, 10**6).status == 400
    assert _refused(tus.parse_length, None, "1", 100).code == "upload_length_required"
    assert _refused(tus.parse_length, "0", None, 100).code == "empty_file"


def test_a_wrong_offset_gets_409() -> None:
    tus.check_offset(5, 5)
    refusal = _refused(tus.check_offset, 4, 5)
    assert (refusal.status, refusal.code) == (409, "upload_offset_mismatch")
    assert _refused(tus.parse_offset, "x").status == 400
    assert tus.parse_offset("0") == 0


def test_patch_body_must_be_offset_octet_stream() -> None:
    tus.check_content_type("application/offset+octet-stream")
    assert _refused(tus.check_content_type, "application/octet-stream").status == 415
    assert _refused(tus.check_content_type, None).status == 415


def test_bytes_beyond_the_length_are_refused() -> None:
    tus.check_fits(90, 10, 100)
    assert _refused(tus.check_fits, 90, 11, 100).status == 413


def test_metadata_decodes_base64_pairs_and_empty_values() -> None:
    raw = "filename " + base64.b64encode("clip ü.mp4".encode()).decode() + ",is_public"
    assert tus.parse_metadata(raw) == {"filename": "clip ü.mp4", "is_public": ""}
    assert tus.parse_metadata(None) == {}
    assert _refused(tus.parse_metadata, "filename !!!").code == "invalid_upload_metadata"
    assert _refused(tus.parse_metadata, "a YQ==,a Yg==").code == "invalid_upload_metadata"


def test_checksum_matches_the_bodys_digest_and_refuses_unknown_algorithms() -> None:
    body = b"reelflow bytes"
    header = "sha1 " + base64.b64encode(hashlib.sha1(body).digest()).decode()
    checksum = tus.parse_checksum(header)
    assert checksum is not None
    hasher = checksum.hasher()
    hasher.update(body)
    assert checksum.matches(hasher)
    other = checksum.hasher()
    other.update(body + b"!")
    assert not checksum.matches(other)
    assert tus.parse_checksum(None) is None
    assert _refused(tus.parse_checksum, "crc32 AAAA").code == "checksum_algorithm_unsupported"
    assert _refused(tus.parse_checksum, "sha1 AAAA").status == 400  # wrong digest length
    assert tus.CHECKSUM_MISMATCH == 460


def test_expiry_is_an_http_date_and_applies_from_the_instant() -> None:
    at = datetime(2026, 12, 1, 22, 0, 5, tzinfo=UTC)
    assert tus.expires_header(at) == "Tue, 01 Dec 2026 22:00:05 GMT"
    assert not tus.is_expired(at, at - timedelta(seconds=1))
    assert tus.is_expired(at, at)
