"""The reprioritise body: `{"priority": n}` with n an integer 1-10, nothing else."""

from __future__ import annotations

import pytest

from services.ingest.errors import Rejection
from services.ingest.priority import parse_priority_change


@pytest.mark.parametrize("value", [1, 5, 10])
def test_a_priority_from_1_to_10_is_taken(value: int) -> None:
    assert parse_priority_change(f'{{"priority": {value}}}'.encode()) == value


def test_an_integral_number_is_an_integer_as_json_schema_says() -> None:
    assert parse_priority_change(b'{"priority": 7.0}') == 7


@pytest.mark.parametrize(("raw", "code"), [
    (b"", "invalid_json"), (b"not json", "invalid_json"), (b"[9]", "invalid_json"),
    (b"{}", "invalid_json"), (b'{"priority": 9, "profile": "av1"}', "invalid_json"),
    (b'{"priority": 0}', "invalid_priority"), (b'{"priority": 11}', "invalid_priority"),
    (b'{"priority": "9"}', "invalid_priority"), (b'{"priority": 9.5}', "invalid_priority"),
    (b'{"priority": 11.0}', "invalid_priority"),
    (b'{"priority": true}', "invalid_priority"), (b'{"priority": null}', "invalid_priority"),
])
def test_anything_else_is_refused_with_its_code(raw: bytes, code: str) -> None:
    with pytest.raises(Rejection) as refused:
        parse_priority_change(raw)
    assert refused.value.code == code
    assert refused.value.status == (400 if code == "invalid_json" else 422)
