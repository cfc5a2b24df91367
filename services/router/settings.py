"""Lane router settings: environment variables `REELFLOW_ROUTER_*`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_ROUTER_", extra="ignore")

    group_id: str = "router"
    #: The consumer group whose room on the lanes the router fills.
    transcode_group: str = "transcode"
    #: Job slots of one transcode process (its REELFLOW_TRANSCODE_CONCURRENCY).
    worker_slots: int = Field(default=1, ge=1)
    #: Unfinished jobs of one lane a worker process may hold: its running one and the
    #: next, so it never waits for the router between two jobs (N slots want N + 1).
    depth_per_worker: int = Field(default=2, ge=1)
    #: Seconds between two looks at the transcode group's offsets (and admissions).
    tick_s: float = Field(default=0.5, gt=0)
    #: A lane's `lane-queue` snapshot is written at most this often while it changes,
    #: and at least every `snapshot_refresh_s` (so the catalog's estimates follow the pace).
    snapshot_interval_s: float = 1.0
    snapshot_refresh_s: float = 30.0
    #: The window over which a lane's pace (jobs finished per hour) is measured.
    throughput_window_s: float = 600.0
    #: Where the group starts on a partition where neither it nor the transcode group has
    #: an offset (else it takes over the transcode group's: `adopt_transcode_offsets`):
    #: `earliest` routes every upload the log holds; `latest` only those written from now.
    start_from: Literal["earliest", "latest"] = "earliest"
    #: Prometheus /metrics port (0 disables it).
    metrics_port: int = 8008
    metrics_host: str = "127.0.0.1"

    common: CommonSettings = Field(default_factory=CommonSettings)
