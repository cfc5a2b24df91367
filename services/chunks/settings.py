"""Chunk worker settings: environment variables `REELFLOW_CHUNKS_*`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings


class ChunksSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_CHUNKS_", extra="ignore")

    group_id: str = "chunks"
    #: Chunks encoded at once by this process; more throughput: more processes.
    concurrency: int = 1
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    #: Scratch root; each process works in `<root>/<pid>`. Empty: `<state_dir>/chunks-work`.
    work_dir: Path | None = None
    #: How soon a dead worker's partitions (and its unfinished chunk) move to another.
    session_timeout_ms: int = 10000
    max_poll_interval_ms: int = 300000
    instance_id: str = ""
    #: Prometheus /metrics (and /health) port; 0, the default, serves none, so several
    #: chunk workers on one host never collide (a cluster sets one per pod for its probes).
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def work_root(self) -> Path:
        return self.work_dir or (self.common.state_dir / "chunks-work")

    @property
    def job_root(self) -> Path:
        return self.work_root / str(os.getpid())
