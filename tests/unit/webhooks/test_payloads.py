"""A webhook's body: `{id, type, created_at, data}`, `data` exactly the view it was given."""

import json
from datetime import UTC, datetime

from services.webhooks import payloads
from services.webhooks.occurrences import Occurrence, Step
from services.webhooks.payloads import body

AT = datetime(2026, 12, 2, 0, 37, 12, 345000, tzinfo=UTC)


def test_the_body_carries_the_id_type_source_time_and_the_view_unchanged():
    view = {"video_id": "v1", "status": "ready", "title": "Cats – ünïcode", "renditions": []}
    sent = json.loads(body(Occurrence("video.ready", "msg_1", "v1", AT, "e1"), view))
    assert sent == {"id": "msg_1", "type": "video.ready",
                    "created_at": "2026-12-02T00:37:12.345000Z", "data": view}


def test_progress_and_renditions_say_which_step_or_rendition_in_detail():
    found = Occurrence("video.processing", "msg_2", "v1", AT, "e2",
                       Step("v1", 1, "encode", 2), {"stage": "encode", "percent": 51.0,
                                                     "attempt": 1})
    sent = json.loads(body(found, {"video_id": "v1"}))
    assert sent["detail"] == {"stage": "encode", "percent": 51.0, "attempt": 1}


def test_the_same_occurrence_and_view_give_the_same_bytes():
    found = Occurrence("video.uploaded", "msg_3", "v1", AT, "e3")
    assert body(found, {"a": 1, "b": [2]}) == body(found, {"a": 1, "b": [2]})


def test_the_test_event_names_its_endpoint():
    sent = json.loads(payloads.test_body("msg_4", "ep-1", AT))
    assert (sent["type"], sent["data"]["endpoint_id"]) == ("webhook.test", "ep-1")
