"""Settings every service shares, read from `REELFLOW_*` environment variables.

Each service adds its own typed settings object (env prefix `REELFLOW_<SERVICE>_`)
and embeds this one as `.common`.
"""

from __future__ import annotations

import os
import shutil
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class SourceLimits(BaseSettings):
    """What a source must be to become a Reelflow video: environment `REELFLOW_SOURCE_*`.

    Read by ingest (refusal at upload and import) and by transcode (every source, whichever
    way it came in), so both judge by the same numbers (`services.shared.media.rules`).
    """

    model_config = SettingsConfigDict(env_prefix="REELFLOW_SOURCE_", extra="ignore")

    #: Minimum long side and short side of the picture (portrait is judged like landscape).
    min_width: int = 640
    min_height: int = 360
    min_duration_s: float = 1.0
    max_duration_s: float = 24 * 3600.0
    #: Leading video frames that must decode for the corruption check.
    decode_check_frames: int = 5


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_", extra="ignore")

    #: Where the local stack keeps data, logs and pid files.
    state_dir: Path = Path(".reelflow")
    #: Kafka bootstrap servers.
    kafka_bootstrap: str = "127.0.0.1:19092"
    #: How Kafka clients connect (services/shared/kafka_security.py): PLAINTEXT,
    #: SASL_PLAINTEXT, SASL_SSL or SSL; empty means SASL_PLAINTEXT once a username is set.
    kafka_security_protocol: Literal["", "PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = ""
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    #: This process's Kafka principal and its password (the local stack sets both per
    #: process; see README "Kafka principals").
    kafka_username: str = ""
    kafka_password: str = ""
    #: TLS (SASL_SSL, SSL): the CA bundle that signed the brokers' certificates (empty: the
    #: system's), and a client certificate and key for brokers that ask for one.
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    #: S3 endpoint (the local stack runs SeaweedFS's S3 gateway here).
    s3_endpoint: str = "http://127.0.0.1:18333"
    s3_bucket: str = "reelflow"
    s3_access_key: str = "reelflow"
    s3_secret_key: str = "reelflow-secret"
    s3_region: str = "us-east-1"
    #: libpq connection string of the catalog database.
    pg_dsn: str = "host=127.0.0.1 port=15432 dbname=reelflow user=reelflow"
    #: ffmpeg binary; empty means the static FFmpeg 9 shipped by `imageio-ffmpeg`.
    ffmpeg: str = ""
    #: ffprobe binary used for probing and checks.
    ffprobe: str = "ffprobe"
    log_level: str = "INFO"
    #: Trace exporter: none, console (stderr) or otlp (OTEL_EXPORTER_OTLP_* env vars).
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    #: The admin API key (`X-API-Key`): manages keys, writes as tenant `admin`, reads
    #: every tenant's videos. Empty disables it (the local stack generates one).
    admin_key: str = ""
    #: Key-encryption key of content keys (32 bytes, base64); empty: the local stack
    #: generates `<state dir>/kek` (see services.shared.content_keys).
    kek: str = ""
    #: Earlier KEKs (comma-separated), still unwrapping until `reelflow keys rotate-kek`.
    kek_previous: str = ""
    #: The Shaka Packager binary; empty means the one npm's `shaka-packager` installed.
    shaka_packager: str = ""
    #: Requests per hour a new API key may make unless created with its own limit.
    default_rate_limit_per_hour: int = 100

    @cached_property
    def ffmpeg_path(self) -> str:
        if self.ffmpeg:
            return self.ffmpeg
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()

    @property
    def shaka_packager_path(self) -> str:
        if self.shaka_packager:
            return self.shaka_packager
        root = Path(__file__).resolve().parents[2]
        return str(root / "node_modules" / "shaka-packager" / "bin" / "packager-linux-x64")

    @cached_property
    def ffprobe_path(self) -> str:
        found = shutil.which(self.ffprobe)
        if not found:
            raise FileNotFoundError(f"ffprobe not found ({self.ffprobe!r}); run ./run setup")
        return found

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        first = self.kafka_bootstrap.split(",")[0]
        host, _, port = first.rpartition(":")
        return host, int(port)

    def service_env(self) -> dict[str, str]:
        """Environment that hands these settings to a child process."""
        env = dict(os.environ)
        for name, value in self.model_dump().items():
            env[f"REELFLOW_{name.upper()}"] = str(value)
        return env
