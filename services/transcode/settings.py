"""Transcode settings: environment variables `REELFLOW_TRANSCODE_*`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings, SourceLimits
from services.transcode.lanes import DEFAULT_WEIGHTS


class TranscodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_TRANSCODE_", extra="ignore")

    group_id: str = "transcode"
    #: Jobs run at once in this process. More throughput: more processes in the group.
    concurrency: int = 1
    #: Tries for a transient failure (S3, network) before the input is dead-lettered.
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    #: Per-job scratch directories live here; empty means `<state_dir>/transcode-work`.
    work_dir: Path | None = None
    #: Minimum seconds between two `transcode-progress` events of one job.
    progress_interval_s: float = 2.0
    #: Profile used when `video-uploaded` names none.
    default_profile: str = "default"
    #: Split and stitch: a video longer than this is encoded in chunks by group `chunks`.
    chunk_threshold_s: float = 120.0
    #: Chunk length, rounded up to whole segments.
    chunk_seconds: float = 20.0
    #: How chunk jobs reach group `chunks`: "returned", one per partition, then the next
    #: one wherever a chunk came back (a busier or slower worker takes fewer); "upfront",
    #: every job at once round the partitions (fixed shares; kept to compare against).
    chunk_dealing: Literal["returned", "upfront"] = "returned"
    #: The packager's segment length (`REELFLOW_PACKAGER_SEGMENT_SECONDS`): chunk edges
    #: fall on its multiples.
    segment_seconds: float = 4.0
    #: Prometheus /metrics port (0 disables it).
    metrics_port: int = 8002
    #: Address /metrics binds; 0.0.0.0 where Prometheus runs in another container.
    metrics_host: str = "127.0.0.1"
    #: Consumer-group liveness. Jobs never stall polling (busy partitions are paused, not
    #: left unpolled), so these bound failure detection, not job length.
    session_timeout_ms: int = 10000
    max_poll_interval_ms: int = 300000
    #: Read the priority lanes the router fills (`transcode-lane-*`); false reads
    #: `video-uploaded` directly, first come first served, as before the lanes.
    lanes: bool = True
    #: Slot shares of the lanes while several have work (`services/transcode/lanes.py`).
    lane_weights: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: Static membership id (cuts rebalances on restart); empty means dynamic membership.
    instance_id: str = ""

    common: CommonSettings = Field(default_factory=CommonSettings)
    #: The content rules (`REELFLOW_SOURCE_*`), shared with ingest: every source is judged
    #: by them, also one an upstream service published without going through ingest.
    source_limits: SourceLimits = Field(default_factory=SourceLimits)

    @property
    def job_root(self) -> Path:
        return self.work_dir or (self.common.state_dir / "transcode-work")
