"""Local stack settings: environment variables `REELFLOW_STACK_*`.

The broker, S3 and Postgres ports are not repeated here: they are parsed from the shared
`REELFLOW_KAFKA_BOOTSTRAP`, `REELFLOW_S3_ENDPOINT` and `REELFLOW_PG_DSN`, so services and
the stack can never disagree.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_POM = REPO_ROOT / "compose" / "kafka" / "pom.xml"


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_STACK_", extra="ignore")

    #: KRaft controller listener (the broker listener comes from REELFLOW_KAFKA_BOOTSTRAP).
    kafka_controller_port: int = 19093
    kafka_heap: str = "512m"
    #: SeaweedFS internal ports; each also binds port + 10000 for gRPC.
    weed_master_port: int = 19333
    weed_volume_port: int = 18080
    weed_filer_port: int = 18888
    #: Prometheus's UI and HTTP API (127.0.0.1 only).
    prometheus_port: int = 19090
    #: Seconds between two scrapes of each service (compose's Prometheus also uses 15).
    prometheus_scrape_interval_s: int = Field(default=15, ge=1)
    #: Seconds to wait for a component to become healthy.
    start_timeout_s: float = 120.0
    #: Seconds between SIGTERM and SIGKILL on stop.
    stop_grace_s: float = 15.0
    #: `reelflow transcode` processes in the group: the first is `transcode`, the others
    #: `transcode-2`, … (own scratch root, no metrics port).
    transcode_workers: int = Field(default=1, ge=1)
    #: Where the Kafka jars are cached; empty means ~/.cache/reelflow.
    cache_dir: Path | None = None

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def state_dir(self) -> Path:
        return self.common.state_dir.resolve()

    @property
    def kafka_port(self) -> int:
        return self.common.kafka_host_port[1]

    @property
    def s3_port(self) -> int:
        return urlparse(self.common.s3_endpoint).port or 80

    @property
    def pg_port(self) -> int:
        for part in self.common.pg_dsn.split():
            key, _, value = part.partition("=")
            if key == "port":
                return int(value)
        return 5432

    @property
    def kafka_jars(self) -> Path:
        """Jar folder, keyed by the pom's hash so a version bump fetches anew."""
        digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
        base = self.cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return (base if self.cache_dir else base / "reelflow") / f"kafka-{digest}"
