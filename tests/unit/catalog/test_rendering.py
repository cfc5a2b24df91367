"""The catalog's answers render exactly as FastAPI's default path would have rendered them
(jsonable_encoder, then JSONResponse), only without the Python walk."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.catalog.rendering import JsonAnswer, render, render_plain, same_in_orjson

ANSWER = {
    "video_id": uuid.UUID("0b5c4a3e-4f39-4c7b-9a43-9d0f3e0c1a2b"),
    "status": "ready",
    "title": "Café à Montréal – 東京",
    "created_at": datetime(2026, 11, 21, 23, 40, 1, 123456, tzinfo=UTC),
    "day": date(2026, 11, 21),
    "input_bytes": Decimal("123456789"),
    "avg_seconds": Decimal("12.5"),
    "tags": ("e2e", "music"),
    "renditions": [{"rendition": "720p", "vmaf": 96.73, "bitrate": 1884000, "warning": None,
                    "ready": True}],
    "metadata": {"nested": {"list": [1, 2.5, "x", None]}},
}


def test_an_answer_renders_byte_for_byte_like_fastapis_default() -> None:
    assert JsonAnswer(ANSWER).body == JSONResponse(jsonable_encoder(ANSWER)).body
    assert JsonAnswer(ANSWER).headers["content-type"] == "application/json"


def test_a_non_finite_number_is_refused_as_json_response_refuses_it() -> None:
    with pytest.raises(ValueError):
        JSONResponse({"vmaf": math.nan})
    with pytest.raises(ValueError):
        JsonAnswer({"vmaf": math.nan})


def test_an_unknown_type_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        JsonAnswer({"what": object()})


def _request(if_none_match: str | None = None) -> Any:
    from starlette.requests import Request

    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_a_conditional_answer_carries_its_etag_and_a_matching_poll_gets_304() -> None:
    from services.catalog.rendering import conditional, etag_of

    first = conditional(_request(), ANSWER)
    assert first.status_code == 200 and first.body == JsonAnswer(ANSWER).body
    tag = first.headers["etag"]
    assert tag == etag_of(first.body)
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.body))
    for sent in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = conditional(_request(sent), ANSWER)
        assert again.status_code == 304 and again.body == b"" and again.headers["etag"] == tag
    assert conditional(_request('"other"'), ANSWER).status_code == 200


def test_same_in_orjson_and_render_plain_agree_with_render() -> None:
    value: object
    for value in (0.0, 1e-4, 0.1, 1e15, 1e16, 1.5e18, 2**63 - 1, -2**63, "x\u2028\x7f\x00",
                  [1, [2.5, {"a": None}]], {"k": True}):
        assert same_in_orjson(value)
        assert render_plain({"v": value}) == render({"v": value})
    for value in (1e-5, math.inf, -math.inf, math.nan, [1e-7], {"k": {"j": 1e-9}}, 2**64, 1e19,
                  (1, 2), ANSWER["created_at"], uuid.UUID(int=1), {1: "int key"}):
        assert not same_in_orjson(value)
    # Beyond 64 bits orjson refuses, and the stdlib writes it.
    assert render_plain({"v": 2**70}) == render({"v": 2**70})


def test_render_finite_writes_render_s_bytes_whatever_the_floats_and_times() -> None:
    from random import Random
    from zoneinfo import ZoneInfo

    from services.catalog.rendering import render_finite

    rng = Random(18)
    floats = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 20) for _ in range(20_000)]
    floats += [9.99e-05, 1e-05, 4.8e-06, 1e-09, 1e-10, 5e-324, 1e16, 1e-4, 0.0, -0.0]
    for value in floats:
        content = {"v": value, "l": [value]}
        assert render_finite(content) == render(content), value
    moments = [datetime(2026, 1, 1, 1, 2, 3, 1, tzinfo=UTC), datetime(2026, 1, 1),
               datetime(1850, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),  # +00:19:32
               date(2026, 1, 1)]
    for moment in moments:
        assert render_finite({"at": moment}) == render({"at": moment}), moment
    assert render_finite(ANSWER) == render(ANSWER)  # Decimals, tuples, UUIDs, text
    assert render_finite({"v": 2**70}) == render({"v": 2**70})
    with pytest.raises(TypeError):
        render_finite({"what": object()})


def test_text_that_looks_like_a_tiny_float_only_costs_the_fast_path() -> None:
    from services.catalog.rendering import render_finite

    for text in ("v0.00001", "x e-5]", "1e-5,"):
        assert render_finite({"t": text}) == render({"t": text})
