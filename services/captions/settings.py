"""Captions settings: environment variables `REELFLOW_CAPTIONS_*`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.captions.model_setup import default_model_dir
from services.shared.settings import CommonSettings


class CaptionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_CAPTIONS_", extra="ignore")

    group_id: str = "captions"
    #: Any faster-whisper (CTranslate2) model folder: small, medium, large-v3, ...; empty
    #: means Whisper base as setup joined it from the pinned PyPI packages.
    model: Path | None = None
    #: CTranslate2 compute type on CPU.
    compute_type: Literal["int8", "int8_float32", "float32", "int16"] = "int8"
    #: Intra-op threads of the model; 0 lets CTranslate2 choose (the cores it sees).
    threads: int = 0
    beam_size: int = 1
    #: Audio is transcribed in windows of this many seconds, read from the decoded file
    #: one window at a time, so an hour of audio never sits in memory whole.
    window_seconds: float = 600.0
    #: A segment counts as speech only below this no-speech probability; a track whose
    #: segments are all above it (music, tone, silence) ends `no_speech`.
    no_speech_threshold: float = 0.6
    #: Scheduling niceness of the process: captions are off the playback path, so encoding
    #: and packaging get the CPU first on a shared machine (0 keeps the default).
    nice: int = 10
    #: Jobs at once in this process; scale out with more processes in the group.
    concurrency: int = 1
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    #: Scratch directories; empty means `<state_dir>/captions-work`.
    work_dir: Path | None = None
    metrics_port: int = 8005
    metrics_host: str = "127.0.0.1"
    session_timeout_ms: int = 10000
    max_poll_interval_ms: int = 300000
    instance_id: str = ""

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def job_root(self) -> Path:
        return self.work_dir or (self.common.state_dir / "captions-work")

    @property
    def model_dir(self) -> Path:
        return self.model or default_model_dir()

    @property
    def model_name(self) -> str:
        """What metadata.json's `whisper_model` says: `base`, or the folder's name."""
        return self.model.name if self.model else "base"
