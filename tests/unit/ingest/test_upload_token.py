"""Direct-upload tokens: genuine ones verify until they expire; altered ones never do."""

from __future__ import annotations

import pytest

from services.ingest import upload_token
from services.ingest.errors import Rejection

KEY = upload_token.signing_key("", "admin")
GRANT = upload_token.DirectGrant("0123456789abcdef0123456789abcdef", 2_000_000_000)


def test_a_signed_token_verifies_to_its_grant() -> None:
    assert upload_token.verify(KEY, upload_token.sign(KEY, GRANT), 1_999_999_999) == GRANT


def test_an_expired_token_gets_410() -> None:
    with pytest.raises(Rejection) as caught:
        upload_token.verify(KEY, upload_token.sign(KEY, GRANT), 2_000_000_000)
    assert (caught.value.status, caught.value.code) == (410, "upload_url_expired")


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("2000000000", "2000000001"),  # extended validity
    lambda t: "f" + t[1:],  # another grant
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # forged signature
    lambda t: "not-a-token",
])
def test_an_altered_token_gets_404(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejection) as caught:
        upload_token.verify(KEY, tamper(upload_token.sign(KEY, GRANT)), 0)
    assert (caught.value.status, caught.value.code) == (404, "upload_url_invalid")


def test_another_secret_signs_differently() -> None:
    other = upload_token.signing_key("", "another-admin")
    with pytest.raises(Rejection):
        upload_token.verify(other, upload_token.sign(KEY, GRANT), 0)
    assert upload_token.signing_key("s", "admin") != KEY
