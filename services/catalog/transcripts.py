"""Transcripts in the catalog: the `transcripts` table (the catalog owns it) and searching
a transcript for the times words are spoken.

The captions stage announces its files on `captions-done`; the projector stores that as a
captions rendition row. `TranscriptIndexer` reads the `transcript.json` such a row names
from S3 once, and stores its segments and text: the text feeds the list's `q=` search, the
segments the transcript API. A row is keyed by (video, attempt) and its source object is
immutable, so indexing is idempotent, and a rebuilt read model is indexed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError
from psycopg.types.json import Jsonb

from services.shared.settings import CommonSettings
from services.shared.storage import ObjectRef, ObjectStore, StorageError

log = logging.getLogger(__name__)

TRANSCRIPT_FILE = "transcript.json"
_WORD = re.compile(r"[\w']+")

_PENDING = (
    "SELECT r.video_id, r.attempt, r.event_id, r.artifacts FROM renditions r"
    " LEFT JOIN transcripts t ON t.video_id = r.video_id AND t.attempt = r.attempt"
    " WHERE r.media_type = 'CAPTIONS' AND t.video_id IS NULL LIMIT %s")
_INSERT = (
    "INSERT INTO transcripts (video_id, attempt, event_id, language, language_probability,"
    " outcome, text, segments) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING")


def transcript_row(record: dict[str, Any]) -> dict[str, Any]:
    """The stored facts of one transcript.json document."""
    segments = [{"start": float(s["start"]), "end": float(s["end"]),
                 "text": str(s["text"]).strip(), "avg_logprob": s.get("avg_logprob"),
                 "words": [{"start": float(w["start"]), "end": float(w["end"]),
                            "word": str(w["word"])} for w in s.get("words") or ()]}
                for s in record.get("segments") or ()]
    return {"language": record.get("language"),
            "language_probability": record.get("language_probability"),
            "outcome": str(record.get("outcome") or ("ok" if segments else "no_speech")),
            "text": " ".join(s["text"] for s in segments),
            "segments": segments}


def _normal(word: str) -> str:
    return "".join(_WORD.findall(word.lower()))


def spoken_at(segments: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Where the words of `query` are spoken, in order (a phrase: its words one after the
    other): each hit's start and end from the word timestamps, and its segment's text."""
    terms = [_normal(t) for t in query.split() if _normal(t)]
    if not terms:
        return []
    hits = []
    for segment in segments:
        words = segment.get("words") or []
        spoken = [_normal(w["word"]) for w in words]
        for i in range(len(spoken) - len(terms) + 1):
            if spoken[i:i + len(terms)] == terms:
                hits.append({"start": words[i]["start"], "end": words[i + len(terms) - 1]["end"],
                             "text": segment["text"], "segment_start": segment["start"],
                             "segment_end": segment["end"]})
    return hits


class TranscriptIndexer:
    def __init__(self, common: CommonSettings, interval_s: float = 1.0) -> None:
        self.common = common
        self.store = ObjectStore(common)
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            indexed = 0
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.common.pg_dsn, autocommit=True) as conn:
                    while not stop.is_set():
                        indexed = await self.index_pending(conn)
                        if not indexed:
                            await _sleep(stop, self.interval_s)
            except (psycopg.Error, OSError) as exc:  # Postgres away: try again later
                log.warning("transcript indexing paused: %s", exc)
                await _sleep(stop, 5 * self.interval_s)

    async def index_pending(self, conn: psycopg.AsyncConnection[Any], batch: int = 20) -> int:
        async with conn.cursor() as cur:
            await cur.execute(_PENDING, (batch,))
            pending = await cur.fetchall()
        done = 0
        for video_id, attempt, event_id, artifacts in pending:
            uri = next((a["uri"] for a in artifacts or () if a.get("name") == TRANSCRIPT_FILE),
                       None)
            try:
                record = json.loads(await asyncio.to_thread(self._read, uri)) if uri else {}
            except (StorageError, BotoCoreError, ValueError) as exc:
                log.warning("transcript of %s/%s not readable yet: %s", video_id, attempt, exc)
                continue
            row = transcript_row(record if isinstance(record, dict) else {})
            await conn.execute(_INSERT, (video_id, attempt, event_id, row["language"],
                                         row["language_probability"], row["outcome"],
                                         row["text"], Jsonb(row["segments"])))
            done += 1
        return done

    def _read(self, uri: str) -> bytes:
        return bytes(self.store.stream(ObjectRef.parse(uri))["Body"].read())


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
