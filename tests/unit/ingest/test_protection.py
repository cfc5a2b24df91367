"""What a submission asks of playback protection (pure)."""

import pytest

from services.ingest.errors import Rejection
from services.ingest.protection import parse_protection, tenant_default


def test_defaults_and_explicit_choices():
    assert parse_protection(None, None, "public") == ("public", None)
    assert parse_protection(None, None, "signed") == ("signed", None)
    assert parse_protection("signed", None, "public") == ("signed", None)
    assert parse_protection("public", "", "signed") == ("public", None)


def test_encryption_implies_signed_and_refuses_public():
    assert parse_protection(None, "cbcs", "public") == ("signed", "cbcs")
    with pytest.raises(Rejection) as refused:
        parse_protection("public", "cbcs", "public")
    assert refused.value.code == "invalid_playback_policy"


@pytest.mark.parametrize(("policy", "encryption", "code"), [
    ("private", None, "invalid_playback_policy"), (None, "cenc", "invalid_encryption"),
    ("1", None, "invalid_playback_policy")])
def test_unknown_values_are_coded(policy, encryption, code):
    with pytest.raises(Rejection) as refused:
        parse_protection(policy, encryption, "public")
    assert refused.value.code == code


def test_a_tenant_default_overrides_the_global_one():
    assert tenant_default("acme", {"acme": "signed"}, "public") == "signed"
    assert tenant_default("other", {"acme": "signed"}, "public") == "public"
