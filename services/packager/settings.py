"""Packager settings: environment variables `REELFLOW_PACKAGER_*`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings


class PackagerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_PACKAGER_", extra="ignore")

    group_id: str = "packager"
    #: Target segment length; the transcoder's 2 s GOPs make 4 s segments exact.
    segment_seconds: float = 4.0
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    #: Scratch space for packaging jobs; empty means `<state_dir>/packager-work`.
    work_dir: Path | None = None
    #: Prometheus /metrics port (0 disables it).
    metrics_port: int = 8003
    #: Address /metrics binds; 0.0.0.0 where Prometheus runs in another container.
    metrics_host: str = "127.0.0.1"
    instance_id: str = ""

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def job_root(self) -> Path:
        return self.work_dir or (self.common.state_dir / "packager-work")
