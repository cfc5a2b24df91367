"""Manifests of a signed video, rewritten per request so that every URL in them carries the
request's token (pure text in, text out).

Relative URLs do not inherit a manifest's query string, so without this a player would ask
for segments without a token. HLS: every URI line and every `URI="…"` attribute (EXT-X-MAP,
EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, …). DASH: `initialization`, `media` and
`sourceURL` attributes and `BaseURL` text. WebVTT storyboards: each cue's image URL.
`data:` URIs (inline keys) are left alone.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from services.catalog.tokens import PARAMETER

_HLS_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_DASH_ATTRIBUTE = re.compile(r'\b(initialization|media|sourceURL)="([^"]*)"')
#: BaseURL, and the ClearKey license URL (dashif:laurl) of an encrypted package.
_DASH_BASE_URL = re.compile(
    r"(<(?:BaseURL|dashif:laurl)\b[^>]*>)([^<]*)(</(?:BaseURL|dashif:laurl)>)")
_VTT_CUE_TARGET = re.compile(r"^(?!WEBVTT|NOTE)([^\s>]+\.(?:jpg|jpeg|png|webp)(?:#\S*)?)$",
                             re.MULTILINE)


def with_token(url: str, token: str) -> str:
    """`url` with `token=<token>` in its query, before any fragment."""
    if not url or url.startswith(("data:", "skd:")):
        return url
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{PARAMETER}={quote(token, safe='.-_~')}{hash_}{fragment}"


def rewrite_hls(text: str, token: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if body.startswith("#"):
            body = _HLS_ATTRIBUTE.sub(lambda m: f'URI="{with_token(m.group(1), token)}"', body)
        elif body.strip():
            body = with_token(body.strip(), token)
        out.append(body + ending)
    return "".join(out)


def rewrite_dash(text: str, token: str) -> str:
    # Inside XML attributes a '&' must be escaped; a token is base64url and dots only.
    def attribute(m: re.Match[str]) -> str:
        return f'{m.group(1)}="{with_token(m.group(2), token).replace("&", "&amp;")}"'

    text = _DASH_ATTRIBUTE.sub(attribute, text)
    return _DASH_BASE_URL.sub(
        lambda m: m.group(1) + with_token(m.group(2).strip(), token).replace("&", "&amp;")
        + m.group(3), text)


def rewrite_storyboard(text: str, token: str) -> str:
    return _VTT_CUE_TARGET.sub(lambda m: with_token(m.group(1), token), text)


#: File extension -> its rewrite.
REWRITES = {".m3u8": rewrite_hls, ".mpd": rewrite_dash, ".vtt": rewrite_storyboard}
