"""`reelflow ingest`: run the ingest HTTP API as its own process.

  consume  api-keys (its key ring), signing-keys (the tenants' playback keys);
           video-uploaded, video-cancelled, video-transcoded, transcode-failed,
           packaging-failed, playback-policy-changed, transcode-progress,
           video-reprioritised (its ledger: who owns a video, its attempts, when transcode
           began them, how they ended, its playback policy and priority)
  decide   routes/ over Submission (upload, import: probe, validate), Rework (cancel,
           reprocess), Reprioritisation, KeyAdmin and Protection (policy, signing keys),
           behind the gate (X-API-Key, Idempotency-Key)
  emit     video-uploaded per accepted source or reprocess, video-cancelled per cancel,
           video-reprioritised per priority change, api-keys per key change, signing-keys
           per signing-key change, playback-policy-changed per policy change (and
           dead-letter, as every consumer may)
"""

from __future__ import annotations

import argparse

from schemas import (
    ALL_TOPICS,
    API_KEYS,
    PLAYBACK_POLICY_CHANGED,
    SIGNING_KEYS,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_UPLOADED,
)
from services.ingest import ledger
from services.ingest.api import create_app
from services.ingest.settings import IngestSettings
from services.ingest.state import IngestState
from services.ingest.upload import return_parts_to_the_os
from services.shared import serving, telemetry
from services.shared.codec import EventCodec
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore

CONSUMES = (API_KEYS, SIGNING_KEYS, *ledger.TOPICS)
EMITS = (VIDEO_UPLOADED, VIDEO_CANCELLED, VIDEO_REPRIORITISED, API_KEYS, SIGNING_KEYS,
         PLAYBACK_POLICY_CHANGED)


def build_app(settings: IngestSettings):  # type: ignore[no-untyped-def]
    producer = EventProducer(settings.common.kafka_bootstrap, EventCodec(ALL_TOPICS), "ingest")
    return create_app(settings, producer, ObjectStore(settings.common),
                      IngestState(settings, producer))


def run(_: argparse.Namespace) -> int:
    settings = IngestSettings()
    telemetry.configure("ingest", settings.common.log_level, settings.common.otel_exporter)
    return_parts_to_the_os()  # bounded uploads' memory really returns (upload.py)
    serving.run(serving.serve(serving.server(build_app(settings), settings.host,
                                             settings.port)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("ingest", help="run the ingest HTTP API")
    parser.set_defaults(func=run)
