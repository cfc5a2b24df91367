"""Scoring settings: environment variables `REELFLOW_SCORING_*`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_SCORING_", extra="ignore")

    group_id: str = "scoring"
    concurrency: int = 1
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    #: Score every n-th frame (odd on purpose, see services/transcode/quality.py).
    subsample: int = 5
    #: How long to wait for the package's `_published` marker before adding the figures to
    #: its metadata.json; a package that never comes (packaging failed) gets none.
    package_wait_s: float = 600.0
    #: Scratch space; empty means `<state_dir>/scoring-work`.
    work_dir: Path | None = None
    #: Prometheus /metrics port (0 disables it): VMAF and the below-floor counter.
    metrics_port: int = 8007
    metrics_host: str = "127.0.0.1"
    session_timeout_ms: int = 10000
    instance_id: str = ""
    #: Scheduling niceness of the process (its ffmpeg children inherit it): scoring is off
    #: the playback path, so on a machine it shares, encoding and packaging get the CPU
    #: first, as they do before captions.
    nice: int = 10

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def job_root(self) -> Path:
        return self.work_dir or (self.common.state_dir / "scoring-work")
