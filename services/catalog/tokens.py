"""Playback tokens for `signed` videos, checked without I/O: which audience a `/media` key
needs, and whether a presented token opens it.

A token is an RS256 JWT (as Mux's signed playback): header `kid` names one of the tenant's
signing keys; claims `sub` = the video id, `aud` = `v` (manifests, init and media segments,
keys, downloads), `t` (thumbnails and the poster) or `s` (storyboard and sprite), and
`exp`. An optional `origins` claim (a list of `scheme://host[:port]`) limits the pages that
may use it: a request whose `Origin` (or `Referer`) is not listed is refused.

Each refusal has its code: `token_missing`, `token_expired`, `token_invalid` (malformed,
unknown or revoked kid, bad signature, no `exp`, an origin not allowed, a key of another
tenant), `token_wrong_video`, `token_wrong_audience`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import jwt

from services.shared.access import ADMIN
from services.shared.signing_keys import SigningKey

VIDEO, THUMBNAIL, STORYBOARD = "v", "t", "s"
AUDIENCES = (VIDEO, THUMBNAIL, STORYBOARD)
ALGORITHM = "RS256"
#: The query parameter a token travels in (players cannot add headers to every request).
PARAMETER = "token"
_VIDEO_KEY = re.compile(r"^(?:packages|renditions|sources)/([0-9a-f-]{36})/")
#: Seconds of clock skew tolerated on `exp` (PyJWT's leeway).
LEEWAY_S = 5


@dataclass(frozen=True)
class TokenRefused(Exception):
    code: str
    detail: str

    def body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


def video_of(key: str) -> str | None:
    """The video a playback object belongs to, from its key (see schemas.layout)."""
    match = _VIDEO_KEY.match(key)
    return match.group(1) if match else None


def audience_of(key: str) -> str:
    """The audience a token must carry to open `key`."""
    path = PurePosixPath(key)
    if path.name.startswith("sprite") or path.name.startswith("storyboard"):
        return STORYBOARD
    if path.parent.name == "thumbnails" or path.name.startswith("thumbnail."):
        return THUMBNAIL
    return VIDEO


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """`scheme://host[:port]` of the page that made the request, if the browser said."""
    for value in (origin, referer):
        if value and value != "null":
            parts = urlsplit(value)
            if parts.scheme and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return None


def check(token: str | None, video_id: str, owner: str | None, audience: str,
          key_of: Callable[[str], SigningKey | None], origin: str | None = None) -> None:
    """Nothing if `token` opens `audience` of `video_id` (owned by `owner`); else
    TokenRefused with its code. `key_of(kid)` is the active signing key or None."""
    if not token:
        raise TokenRefused("token_missing", "this video is signed: add ?token=<a playback "
                           "token> (see the README, Protecting videos)")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise TokenRefused("token_invalid", "the token is not a JWT") from None
    key = key_of(kid) if isinstance(kid, str) else None
    if key is None or key.public_key is None:
        raise TokenRefused("token_invalid", "the token's kid names no active signing key")
    options: jwt.types.Options = {"require": ["exp", "sub", "aud"], "verify_aud": False}
    try:
        claims = jwt.decode(token, key.public_key, algorithms=[ALGORITHM], options=options,
                            leeway=LEEWAY_S)
    except jwt.ExpiredSignatureError:
        raise TokenRefused("token_expired", "the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("token_invalid", f"the token does not verify ({exc})") from None
    if key.owner != ADMIN and key.owner != owner:
        raise TokenRefused("token_invalid", "the token was signed by another tenant's key")
    if claims.get("sub") != video_id:
        raise TokenRefused("token_wrong_video", "the token is for another video")
    granted = claims.get("aud")
    granted = [granted] if isinstance(granted, str) else granted
    if not isinstance(granted, list) or audience not in granted:
        raise TokenRefused("token_wrong_audience", f"this object needs a token with aud "
                           f"{audience!r} ({_AUDIENCE_NAMES[audience]})")
    allowed = claims.get("origins")
    if allowed is not None and (not isinstance(allowed, list) or origin not in allowed):
        raise TokenRefused("token_invalid", "the token is not valid on this page's origin")


_AUDIENCE_NAMES = {VIDEO: "manifests, segments, keys and downloads",
                   THUMBNAIL: "thumbnails and the poster",
                   STORYBOARD: "the storyboard and its sprite"}
