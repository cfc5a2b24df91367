"""Playback tokens: each refusal code for what it names, checked against tokens minted by
PyJWT's own encoder with keys made by `cryptography` (not by the code under test)."""

import time
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from schemas.events import SigningKeyState
from services.catalog import tokens
from services.catalog.tokens import TokenRefused, audience_of, check, request_origin, video_of
from services.shared.signing_keys import SigningKey

VIDEO = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


def _pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _pair()
STRANGER, _ = _pair()
KID = str(uuid.uuid4())


def _key(owner="acme", active=True):
    now = datetime.now(UTC)
    return SigningKey.from_event(SigningKeyState(
        event_id=str(uuid.uuid4()), occurred_at=now, kid=KID, owner=owner,
        public_key_pem=PUBLIC, active=active, created_at=now))


def _mint(sub=VIDEO, aud="v", exp_in=60, kid=KID, key=PRIVATE, **claims):
    payload = {"sub": sub, "aud": aud, "exp": int(time.time()) + exp_in, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _code(token, audience="v", key=None, owner="acme", origin=None):
    table = {KID: key or _key()}
    try:
        check(token, VIDEO, owner, audience,
              lambda kid: table[kid] if kid in table and table[kid].active else None, origin)
    except TokenRefused as refused:
        return refused.code
    return None


def test_a_valid_token_of_the_right_audience_opens_the_video():
    assert _code(_mint()) is None
    assert _code(_mint(aud=["v", "t"]), "t") is None


@pytest.mark.parametrize(("token", "code"), [
    (None, "token_missing"), ("", "token_missing"), ("not.a.jwt", "token_invalid"),
    ("garbage", "token_invalid")])
def test_missing_and_malformed_tokens(token, code):
    assert _code(token) == code


def test_an_expired_token_is_token_expired():
    assert _code(_mint(exp_in=-60)) == "token_expired"


def test_a_token_for_another_video_is_token_wrong_video():
    assert _code(_mint(sub=OTHER)) == "token_wrong_video"


def test_a_thumbnail_token_does_not_open_segments():
    assert _code(_mint(aud="t"), "v") == "token_wrong_audience"
    assert _code(_mint(aud="v"), "s") == "token_wrong_audience"


def test_unknown_kid_revoked_key_and_forged_signature_are_invalid():
    assert _code(_mint(kid=str(uuid.uuid4()))) == "token_invalid"
    assert _code(_mint(), key=_key(active=False)) == "token_invalid"
    assert _code(_mint(key=STRANGER)) == "token_invalid"


def test_a_token_without_exp_is_invalid():
    token = jwt.encode({"sub": VIDEO, "aud": "v"}, PRIVATE, algorithm="RS256",
                       headers={"kid": KID})
    assert _code(token) == "token_invalid"


def test_an_hs256_token_made_with_the_public_key_is_refused():
    # The classic algorithm-confusion attack: only RS256 is accepted.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","kid":"' + KID.encode() + b'"}')
    assert _code(header.decode() + ".e30.c2ln") == "token_invalid"


def test_another_tenants_key_cannot_open_the_video_but_the_admins_can():
    assert _code(_mint(), key=_key(owner="other")) == "token_invalid"
    assert _code(_mint(), key=_key(owner="admin")) is None


def test_origins_claim_limits_the_pages():
    token = _mint(origins=["https://shop.example"])
    assert _code(token, origin="https://shop.example") is None
    assert _code(token, origin="https://evil.example") == "token_invalid"
    assert _code(token, origin=None) == "token_invalid"


def test_audiences_by_object():
    assert audience_of(f"packages/{VIDEO}/1/master.m3u8") == "v"
    assert audience_of(f"packages/{VIDEO}/1/720p/seg_00001.m4s") == "v"
    assert audience_of(f"renditions/{VIDEO}/1/720p.mp4") == "v"
    assert audience_of(f"renditions/{VIDEO}/1/thumbnails/thumb_000.jpg") == "t"
    assert audience_of(f"sources/{VIDEO}/thumbnail.png") == "t"
    assert audience_of(f"renditions/{VIDEO}/1/thumbnails/sprite.jpg") == "s"
    assert audience_of(f"renditions/{VIDEO}/1/thumbnails/storyboard.vtt") == "s"


def test_video_of_and_request_origin():
    assert video_of(f"packages/{VIDEO}/1/master.m3u8") == VIDEO
    assert video_of("packages/x/1/master.m3u8") is None
    assert request_origin("https://a.example", None) == "https://a.example"
    assert request_origin(None, "http://b.example:8080/page?x=1") == "http://b.example:8080"
    assert request_origin("null", None) is None
    assert tokens.PARAMETER == "token"
