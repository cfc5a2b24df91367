"""Ingest settings: environment variables `REELFLOW_INGEST_*`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings, SourceLimits


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_INGEST_", extra="ignore")

    host: str = "127.0.0.1"
    #: HTTP port of the ingest API.
    port: int = 8001
    #: Largest accepted upload; bigger ones get 413.
    max_upload_bytes: int = 20 * 1024**3
    #: Largest custom thumbnail.
    max_thumbnail_bytes: int = 5 * 1024**2
    #: Uploads whose bytes stream into S3 at once, per process; more wait their turn (in
    #: arrival order, their bytes left unread meanwhile, so TCP holds them back). Each
    #: streaming upload holds up to (parts in flight + 1) parts, so this bounds the process's
    #: memory (4 × 3 × 8 MiB: about 100 MiB of parts) whatever the number of clients, and a
    #: few uploads at once already keep the S3 gateway busy (`./run bench ingest`).
    concurrent_uploads: int = Field(default=4, ge=1)
    #: S3 parts of one upload in flight while the next fills (the window; memory per
    #: streaming upload is (window + 1) parts).
    upload_parts_in_flight: int = Field(default=2, ge=1, le=8)
    #: Size of each S3 part of an upload, MiB (S3's minimum is 5).
    upload_part_mib: int = Field(default=8, ge=5, le=64)
    #: Seconds to wait for Kafka to acknowledge an event before answering 503.
    publish_timeout_s: float = 15.0
    #: Server directories `POST /api/v1/videos/import` may read from (JSON list). Empty
    #: disables filesystem import: a server path is then refused with 403.
    import_roots: list[Path] = Field(default_factory=list)
    #: Base URL of the catalog, for the links in responses.
    catalog_url: str = "http://127.0.0.1:8000"
    #: Consumer group of ingest's own projection of `video-uploaded` (for reprocess).
    group_id: str = "ingest"
    #: Partitions the ledger projects at once. With one, the shared loop hands out one
    #: record per poll and then waits out its 500 ms poll with everything paused: about
    #: two records a second, far behind the progress events of a busy pipeline.
    ledger_concurrency: int = 4
    #: Seconds after which an unfinished Idempotency-Key claim (its request died with its
    #: process) may be taken over by a retry.
    idempotency_claim_timeout_s: float = 3600.0
    #: Connections to Postgres (schema `ingest`: idempotency keys, reprocess ledger).
    pool_size: int = 5
    #: Seconds to keep retrying Postgres at start before giving up.
    startup_timeout_s: float = 60.0

    #: Seconds an unfinished tus upload lives after its creation; then the sweep aborts
    #: its S3 multipart upload and deletes its state (`Upload-Expires`).
    upload_expiry_s: float = 24 * 3600.0
    #: Seconds between two sweeps of expired uploads.
    upload_sweep_s: float = 60.0
    #: Seconds a one-time direct-upload URL stays valid.
    direct_upload_valid_s: float = 3600.0
    #: HMAC secret of direct-upload URLs; empty derives one from the admin key.
    upload_token_secret: str = ""

    #: Playback policy of a submission that names none (`public` or `signed`)...
    default_playback_policy: Literal["public", "signed"] = "public"
    #: ...unless its tenant has its own default here (JSON: {"acme": "signed"}).
    tenant_playback_policies: dict[str, Literal["public", "signed"]] = Field(
        default_factory=dict)

    common: CommonSettings = Field(default_factory=CommonSettings)
    #: The content rules (`REELFLOW_SOURCE_*`), shared with transcode.
    source_limits: SourceLimits = Field(default_factory=SourceLimits)
