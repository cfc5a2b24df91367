"""Scenario 2, poison pills: each sent between good videos (not Avro, an unknown schema
fingerprint, a valid event whose source does not exist, a truncated MP4 both uploaded and
published, a zero-byte file, a 320x240 video, a text file named .mp4). Each ends within
30 s in `dead-letter` or `failed` with its reason, or is refused at upload with its code,
and the good videos around them complete."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import ALL_TOPICS, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.codec import EventCodec
from services.shared.dead_letter_log import read_dead_letters
from services.shared.settings import CommonSettings
from services.shared.storage import ObjectStore
from tests.integration.test_dlq import publish
from tests.media import make_clip
from tests.polling import wait_until
from tests.reliability import harness
from tests.reliability.harness import audit, clips, statuses, submit_all
from tests.reliability.summary import Row, record

pytestmark = pytest.mark.integration

#: The issue's deadline for a poison pill to reach its end state (functional, not speed).
DEADLINE_S = 30.0
codec = EventCodec(ALL_TOPICS)


def upload_event(video_id: str, uri: str) -> VideoUploaded:
    return VideoUploaded(event_id=str(uuid.uuid4()), video_id=video_id,
                         occurred_at=datetime.now(UTC), source_uri=uri)


class Pills:
    """Sends poison pills and records, per pill, the outcome seen and how long it took."""

    def __init__(self, common: CommonSettings, tmp: Path) -> None:
        self.common, self.tmp = common, tmp
        self.outcomes: dict[str, tuple[str, float]] = {}

    def _timed(self, name: str, outcome: Callable[[], str | None]) -> None:
        started = time.monotonic()
        try:
            seen = wait_until(outcome, name, DEADLINE_S, every=0.5)
        except AssertionError:
            seen = "nothing"
        self.outcomes[name] = (seen, time.monotonic() - started)

    def on_the_log(self, name: str, value: bytes) -> None:
        since = int(time.time() * 1000) - 1000
        partition, offset = publish(self.common.kafka_bootstrap, value,
                                    str(uuid.uuid4()).encode())

        def dead_lettered() -> str | None:
            for letter in asyncio.run(read_dead_letters(self.common.kafka_bootstrap, since)):
                event = letter.event
                if event is not None and (event.original_partition, event.original_offset,
                                          event.consumer_group) == (partition, offset,
                                                                    "transcode"):
                    return f"dead-letter {event.error_code}"
            return None
        self._timed(name, dead_lettered)

    def as_event(self, name: str, source: bytes | None) -> None:
        """A schema-valid `video-uploaded` naming `source` (None: an object never stored)."""
        video_id = str(uuid.uuid4())
        store = ObjectStore(self.common)
        ref = store.ref(f"sources/{video_id}/original")
        if source is not None:
            store.put_bytes(source, ref, "video/mp4")
        publish(self.common.kafka_bootstrap, codec.encode(
            VIDEO_UPLOADED, upload_event(video_id, ref.uri)), video_id.encode())

        def failed() -> str | None:
            row = statuses(self.common, [video_id]).get(video_id)
            return f"failed {row['error_code']}" if row and row["status"] == "failed" else None
        self._timed(name, failed)

    def uploaded(self, name: str, path: Path) -> None:
        started = time.monotonic()
        reply = harness.submit(path, "poison")
        code = reply.json().get("error") if 400 <= reply.status_code < 500 else None
        self.outcomes[name] = (f"refused {reply.status_code} {code}" if code
                               else f"accepted {reply.status_code}",
                               time.monotonic() - started)


def truncated_mp4(tmp: Path) -> bytes:
    # No faststart: the index (moov) is at the end, so half the file has none.
    whole = make_clip(tmp / "whole.mp4", 640, 360, seconds=3).read_bytes()
    return whole[: len(whole) // 2]


#: One outcome per pill. Half a non-faststart MP4 has no index (moov), so FFmpeg cannot read
#: it at all: ingest's probe refuses it as `not_media` (transcode, which fetches it
#: whole and checks it, calls it `undecodable_source`).
EXPECTED: dict[str, str] = {
    "not Avro": "dead-letter not_avro",
    "unknown fingerprint": "dead-letter unknown_fingerprint",
    "source object missing": "failed source_missing",
    "truncated MP4 (event)": "failed undecodable_source",
    "truncated MP4 (upload)": "refused 422 not_media",
    "zero-byte file": "refused 422 empty_file",
    "320x240 video": "refused 422 resolution_too_low",
    "text file named .mp4": "refused 422 not_media",
}


def transcoded(common: CommonSettings, video_id: str) -> bool:
    row = statuses(common, [video_id]).get(video_id)
    return bool(row and row["status"] in ("packaging", "ready", "failed"))


def test_each_poison_pill_ends_with_its_reason_in_30_s_and_the_good_videos_complete(
        two_workers: Any, common_settings: CommonSettings, tmp_path: Path) -> None:
    good = clips(tmp_path, 3, fps=24)
    pills = Pills(common_settings, tmp_path)
    broken = truncated_mp4(tmp_path)
    (tmp_path / "broken.mp4").write_bytes(broken)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video, whatever the name says\n" * 50)
    small = make_clip(tmp_path / "small.mp4", 320, 240, seconds=2)
    fingerprint = bytearray(codec.encode(VIDEO_UPLOADED, upload_event(
        str(uuid.uuid4()), "s3://reelflow/sources/x/original")))
    fingerprint[2:10] = os.urandom(8)

    started = time.monotonic()
    ids = submit_all(good[:1], "between poison pills")
    # Pills on the log go out while the workers are idle, so 30 s measures their handling
    # and not the good video a busy worker would finish first.
    wait_until(lambda: transcoded(common_settings, ids[0]), "good video 1 transcoded", 600, 2)
    pills.on_the_log("not Avro", b"\x00\x01 not avro at all \xff" * 8)
    pills.on_the_log("unknown fingerprint", bytes(fingerprint))
    ids += submit_all(good[1:2], "between poison pills")
    pills.uploaded("truncated MP4 (upload)", tmp_path / "broken.mp4")
    pills.uploaded("zero-byte file", tmp_path / "empty.mp4")
    pills.uploaded("320x240 video", small)
    pills.uploaded("text file named .mp4", tmp_path / "notes.mp4")
    wait_until(lambda: transcoded(common_settings, ids[1]), "good video 2 transcoded", 600, 2)
    pills.as_event("source object missing", None)
    pills.as_event("truncated MP4 (event)", broken)
    ids += submit_all(good[2:], "between poison pills")
    final = harness.wait_terminal(common_settings, ids, 600)
    seconds = time.monotonic() - started
    found = audit(common_settings, ids)

    right = {name: seen for name, (seen, took) in pills.outcomes.items()
             if took <= DEADLINE_S and seen == EXPECTED[name]}
    ready = sum(s == "ready" for s in final.values())
    record(Row("poison pills", len(ids) + len(EXPECTED), ready + len(right),
               sum(s not in ("ready", "failed") for s in final.values())
               + sum(seen == "nothing" for seen, _ in pills.outcomes.values()),
               len(found.duplicated), seconds,
               f"{len(right)}/{len(EXPECTED)} pills ended right within {DEADLINE_S:.0f} s"))
    for name, (seen, took) in sorted(pills.outcomes.items()):
        print(f"  {name:24} {seen:36} {took:5.1f} s")

    assert pills.outcomes.keys() == EXPECTED.keys()
    assert right.keys() == EXPECTED.keys(), {n: pills.outcomes[n] for n in EXPECTED
                                             if n not in right}
    assert ready == len(ids), final
    assert not found.duplicated and not found.broken, (found.duplicated, found.broken)
