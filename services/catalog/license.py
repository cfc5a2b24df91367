"""The ClearKey license service's answers, without I/O (routes in `routes.license`).

Requests and answers are the W3C Encrypted Media Extensions ClearKey format: the CDM sends
`{"kids": [<base64url kid>], "type": "temporary"}` and gets
`{"keys": [{"kty": "oct", "kid": <base64url>, "k": <base64url key>}], "type": "temporary"}`.
Only the video's own keys are ever answered (of every attempt, so a player still on an
older package keeps working until that package is retired); kids it does not hold are
left out, as the format allows.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Any

from services.shared.envelope import ContentKey


class BadLicenseRequest(ValueError):
    """Not a W3C ClearKey license request."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def requested_kids(body: bytes) -> tuple[list[str], str]:
    """(kids as UUID strings, session type) of a license request."""
    try:
        request = json.loads(body)
        kids = request["kids"]
        if not isinstance(kids, list) or not kids:
            raise ValueError
        parsed = [str(uuid.UUID(bytes=_unb64url(k))) for k in kids]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadLicenseRequest("send {\"kids\": [<base64url key ids>], \"type\": "
                                "\"temporary\"} (W3C ClearKey)") from exc
    kind = request.get("type", "temporary")
    return parsed, kind if kind in ("temporary", "persistent-license") else "temporary"


def clearkey_answer(kids: Sequence[str], session_type: str,
                    keys: Sequence[ContentKey]) -> dict[str, Any]:
    by_kid = {k.kid: k for k in keys}
    return {"keys": [{"kty": "oct", "kid": b64url(uuid.UUID(kid).bytes),
                      "k": b64url(by_kid[kid].key)} for kid in kids if kid in by_kid],
            "type": session_type}
