"""Catalog settings: environment variables `REELFLOW_CATALOG_*` (plus the shared `REELFLOW_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.layout import PLAYBACK_PREFIXES
from services.shared.kafka_security import Credentials
from services.shared.settings import CommonSettings


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_CATALOG_", extra="ignore")

    #: Interface the HTTP API binds to.
    host: str = "127.0.0.1"
    #: HTTP port of the query API, `/media`, `/health` and `/metrics`.
    port: int = 8000
    #: Kafka consumer group of the projector. Offsets are stored in Postgres under this name.
    group_id: str = "catalog"
    #: Most records applied in one database transaction. Bigger batches replay faster
    #: (a video touched by many records is rewritten once per batch); only a backlog fills one.
    #: 20,000: with the time-aligned batches (`projector.aligned_batch`) nearly every video's
    #: events then land in one batch (the projection bench: 54 -> 2 video row updates per
    #: 1,000 events), and each batch's fixed statements and round trips are paid 4x less
    #: often. A trickle is applied as it comes either way; what grows is the work a
    #: poison record's bisection redoes (up to twice a batch) and the records held (up to
    #: `projector.HELD_BATCHES` batches' worth).
    batch_max_records: int = 20_000
    #: Longest wait for records before a (possibly smaller) batch is applied.
    batch_max_wait_ms: int = 200
    #: Prefix of playback URLs in API answers, e.g. `https://cdn.example.com`; empty means
    #: URLs relative to this server (`/media/<key>`).
    public_base_url: str = ""
    #: Key prefixes `/media` serves; anything else (e.g. the original uploads) is 404.
    media_prefixes: tuple[str, ...] = PLAYBACK_PREFIXES
    #: Seconds `/media` keeps a video's playback policy before reading it again.
    media_policy_cache_s: float = 1.0
    #: Scheduling niceness of a `--role projector` process. Projection is catch-up work and
    #: the API answers people: on cores the two share, a projector at the API's niceness
    #: took its time slices from detail requests when the cores were busy (their p99 20x
    #: idle under a 1,000 events/s stream in one run, 1.5x at 10: `benchmarks.api`,
    #: README issue 18). It slows the projector only while the CPU is contended. `all`
    #: and `api` processes keep 0.
    projector_nice: int = 10
    #: Connections the API may hold open to Postgres.
    api_pool_size: int = 10
    #: Bind the HTTP port with SO_REUSEPORT, so several `reelflow catalog --role api`
    #: processes share it (the kernel spreads connections): the API's scaling knob on one
    #: host. Off: a second process on the port fails to start, as any server would.
    reuse_port: bool = False
    #: Seconds between refreshes of the `reelflow_consumer_lag` gauges (every consumer
    #: group on the cluster); 0 turns the exporter off.
    lag_refresh_s: float = 15.0
    #: Seconds between the operations console's lag samples (`/console`); 0 turns it off.
    console_sample_s: float = 5.0
    #: The console status rules' sliding window, in seconds (see `lag_status`).
    console_window_s: float = 120.0
    #: Stuck work: in a stage for longer than this many times the stage's median...
    console_stuck_factor: float = 3.0
    #: ...and for longer than this many seconds.
    console_stuck_floor_s: float = 60.0
    #: Port of the figures service (`GET /figures`), the same variable it reads.
    figures_port: int = Field(default=8004, validation_alias="REELFLOW_FIGURES_PORT")
    #: Port of the local stack's Prometheus (retries chart), the same variable it reads.
    prometheus_port: int = Field(default=19090, validation_alias="REELFLOW_STACK_PROMETHEUS_PORT")
    #: Seconds to keep retrying Postgres at start before giving up.
    startup_timeout_s: float = 60.0
    #: The Kafka principal the console's actions (redrive, replay) act as: the operator
    #: tools' own (`operations`), not the catalog's, which may not write pipeline topics.
    #: Empty: they act as the catalog.
    console_kafka_username: str = ""
    console_kafka_password: str = ""

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def console_operator(self) -> Credentials | None:
        if not self.console_kafka_username:
            return None
        return Credentials(self.console_kafka_username, self.console_kafka_password)

    @property
    def figures_url(self) -> str:
        return f"http://127.0.0.1:{self.figures_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"
