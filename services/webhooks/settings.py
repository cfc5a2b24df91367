"""Webhooks settings: environment variables `REELFLOW_WEBHOOKS_*` (plus the shared `REELFLOW_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.settings import CommonSettings

#: Svix's schedule: the first attempt at once, then these waits (about 27 h in all).
SVIX_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class WebhooksSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFLOW_WEBHOOKS_", extra="ignore")

    #: Interface and port of the webhooks API, `/health` and `/metrics`.
    host: str = "127.0.0.1"
    port: int = 8006
    #: Consumer group the dispatcher reads the pipeline topics in.
    group_id: str = "webhooks"
    #: Port of the catalog, whose `GET /api/v1/videos/{id}` is every payload's `data`.
    catalog_port: int = Field(default=8000, validation_alias="REELFLOW_CATALOG_PORT")
    #: Group whose committed offsets tell that the catalog applied an event.
    catalog_group: str = "catalog"
    #: Longest wait for the catalog to apply a source event before its view is read anyway.
    catalog_wait_s: float = 10.0
    #: Waits between attempts after the first (seconds); the last one repeats nothing:
    #: after it the delivery has failed for good.
    retry_schedule_s: tuple[float, ...] = SVIX_SCHEDULE_S
    #: An endpoint whose deliveries fail (no success in between) for this long is disabled.
    disable_after_s: float = 5 * 24 * 3600.0
    #: Per attempt: connect, send and read the answer within this many seconds.
    timeout_s: float = 10.0
    #: Bytes of an answer read at most (the rest is not read); the delivery log keeps these.
    max_response_bytes: int = 1024
    #: Attempts in flight to one endpoint at most; a slow one never holds another's slots.
    endpoint_concurrency: int = 4
    #: Attempts in flight in this process at most.
    concurrency: int = 64
    #: Networks a webhook URL may resolve into although they are loopback, link-local or
    #: private, e.g. `["127.0.0.1/32"]` (JSON list of CIDRs); empty: none.
    allowed_networks: tuple[str, ...] = ()
    #: How long a rotated-out secret keeps signing beside the new one, by default.
    secret_grace_s: float = 24 * 3600.0
    #: Seconds between looks for due retries when nothing woke the sender.
    poll_s: float = 0.5
    #: A claimed attempt whose process died is taken over after this many seconds.
    lease_s: float = 60.0
    #: A live delivery waits this long after it was enqueued before it is sent, so a video
    #: event read a moment later from another topic, but earlier in time, goes first.
    settle_s: float = 0.5
    pool_size: int = 8
    #: Kafka acknowledgement wait for an endpoint change.
    publish_timeout_s: float = 10.0
    startup_timeout_s: float = 60.0

    common: CommonSettings = Field(default_factory=CommonSettings)

    @property
    def catalog_url(self) -> str:
        return f"http://127.0.0.1:{self.catalog_port}"
