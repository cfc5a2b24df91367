"""Pure: a webhook's body, `{id, type, created_at, data}` (+ `detail` for a progress step
or a rendition), with `data` the catalog's own answer for the video, as it was when the
source event had been applied."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.webhooks.occurrences import TEST, Occurrence


def body(occurrence: Occurrence, view: dict[str, Any] | None) -> str:
    document: dict[str, Any] = {"id": occurrence.message_id, "type": occurrence.type,
                                "created_at": _iso(occurrence.occurred_at), "data": view}
    if occurrence.detail is not None:
        document["detail"] = occurrence.detail
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def test_body(message_id: str, endpoint_id: str, at: datetime) -> str:
    return json.dumps({"id": message_id, "type": TEST, "created_at": _iso(at),
                       "data": {"endpoint_id": endpoint_id,
                                "message": "a test event from Reelflow"}},
                      separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
