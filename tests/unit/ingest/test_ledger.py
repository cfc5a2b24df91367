"""What a reprocess repeats of a submission, and what it does not."""

from __future__ import annotations

from schemas.events import VideoUploaded
from services.ingest.ledger import SUBMISSION_FIELDS, submission_of


def test_a_reprocess_repeats_the_source_and_metadata_but_not_the_identity():
    event = VideoUploaded.from_record({
        "event_id": "e1", "video_id": "v", "attempt": 2, "occurred_at": 0, "owner": "acme",
        "origin": "upload", "source_uri": "s3://b/k", "source_sha256": "ab",
        "user_metadata_json": '{"title": "t"}', "priority": 7})
    repeated = submission_of(event)
    assert set(repeated) == set(SUBMISSION_FIELDS)
    assert repeated["source_uri"] == "s3://b/k" and repeated["priority"] == 7
    assert not {"event_id", "attempt", "occurred_at", "origin", "owner"} & set(repeated)
