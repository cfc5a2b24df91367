"""Figures settings: environment variables `REELFLOW_FIGURES_*`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings


class FiguresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_FIGURES_", extra="ignore")

    #: The app's consumer group (faust's app id).
    group_id: str = "figures"
    #: HTTP port of `/figures` (JSON), `/metrics` (Prometheus) and `/health`.
    port: int = 8004
    host: str = "127.0.0.1"
    #: Seconds between offset commits (faust flushes the changelog writes first).
    commit_interval_s: float = 2.0
    #: Seconds until the broker gives a silent member's partitions to the others.
    session_timeout_s: float = 10.0
    #: Seconds between sweeps of expired windows, per partition.
    sweep_interval_s: float = 60.0

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def data_dir(self) -> Path:
        """faust's own folder (its tables live in memory, rebuilt from the changelogs)."""
        return self.common.state_dir / "figures-data"
