"""`reelflow webhooks`: the webhooks API and dispatcher, as their own process.

  consume  the pipeline topics (`occurrences.SOURCES`) in its own group `webhooks`;
           api-keys (its key ring) and webhook-endpoints (its directory), both from the
           beginning without a group
  decide   Intake: which webhook an event is, who hears of it, the catalog's view of the
           video as its body; Sender: due deliveries out, signed, bounded per endpoint,
           retried on the schedule (state in Postgres, schema `webhooks`); routes/ for the
           endpoints, the delivery log, test, retry and replay
  emit     webhook-endpoints per endpoint change (the API's, and the dispatcher's when it
           disables an endpoint; at start, endpoints whose secrets are not yet sealed
           under the current KEK), and dead-letter, as every consumer may
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from schemas import ALL_TOPICS, API_KEYS, WEBHOOK_ENDPOINTS
from services.shared import serving, telemetry
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.envelope import Keks
from services.shared.keyring import Keyring
from services.shared.lifecycle import (
    postgres_address,
    run_together,
    run_until_signalled,
    wait_for_dependency,
    wait_for_kafka,
)
from services.shared.migrations import migrate
from services.shared.producer import EventProducer
from services.webhooks import guard
from services.webhooks.api import create_app
from services.webhooks.catalog_views import CatalogViews
from services.webhooks.directory import Directory
from services.webhooks.endpoints import EndpointAdmin, Unavailable
from services.webhooks.intake import Intake
from services.webhooks.occurrences import SOURCES
from services.webhooks.replay import Replayer
from services.webhooks.sender import Sender
from services.webhooks.settings import WebhooksSettings
from services.webhooks.store import DeliveryStore

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "webhooks"

CONSUMES = (*SOURCES, API_KEYS, WEBHOOK_ENDPOINTS)
EMITS = (WEBHOOK_ENDPOINTS,)


async def _migrate(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        applied = await migrate(conn, MIGRATIONS, SCHEMA)
    if applied:
        log.info("applied webhooks migrations %s", applied)


async def serve(settings: WebhooksSettings, stop: asyncio.Event) -> None:
    common, patience = settings.common, settings.startup_timeout_s
    await wait_for_dependency("Postgres", postgres_address(common.pg_dsn),
                              lambda: _migrate(common.pg_dsn), (psycopg.OperationalError,),
                              patience)
    codec = EventCodec(ALL_TOPICS)
    producer = EventProducer(common.kafka_bootstrap, codec, "webhooks")  # emit
    await wait_for_kafka(common.kafka_bootstrap, producer.start, patience)
    pool = AsyncConnectionPool(common.pg_dsn, min_size=1, max_size=settings.pool_size,
                               open=False, kwargs={"autocommit": True})
    await pool.open(wait=True, timeout=patience)
    keyring = Keyring(common.kafka_bootstrap, common.admin_key, codec)
    keks = Keks.from_settings(common)
    if keks.current is None:
        log.warning("no key-encryption key (REELFLOW_KEK): webhook signing secrets are "
                    "written to webhook-endpoints in clear")
    directory = Directory(common.kafka_bootstrap, codec, keks)
    store = DeliveryStore(pool)
    admin = EndpointAdmin(directory, producer, guard.networks(settings.allowed_networks),
                          settings.publish_timeout_s)
    sender = Sender(settings, store, directory, admin)  # decide: out
    views = CatalogViews(settings.catalog_url, common.admin_key, common.kafka_bootstrap,
                         settings.catalog_group, settings.catalog_wait_s)
    intake = Intake(directory, views, store, sender.wake)  # decide: in
    loop = ConsumeLoop(LoopSettings(settings.group_id, SOURCES, concurrency=len(SOURCES) * 6,
                                    max_attempts=10, backoff_max_s=30.0),
                       common.kafka_bootstrap, codec, producer, intake)
    app = create_app(settings, producer, keyring, admin, store, sender,
                     Replayer(common.kafka_bootstrap, codec, store, views))
    server = serving.server(app, settings.host, settings.port, lifespan="off")
    jobs: dict[str, Coroutine[Any, Any, Any]] = {
        "http": serving.serve(server), "keyring": keyring.run(stop),
        "directory": directory.run(stop), "sender": sender.run(stop),
        "intake": _consume(loop, directory, admin, stop)}
    log.info("webhooks on http://%s:%d", settings.host, settings.port)
    try:
        await run_together(jobs, stop, on_stop=lambda: setattr(server, "should_exit", True))
    finally:
        await views.close()
        await pool.close()
        with contextlib.suppress(KafkaError):
            await producer.stop()


async def _consume(loop: ConsumeLoop, directory: Directory, admin: EndpointAdmin,
                   stop: asyncio.Event) -> None:
    """The pipeline topics, once the endpoints are known (else early events would find
    nobody listening) and their secrets sealed under the current KEK."""
    await directory.caught_up.wait()
    try:
        resealed = await admin.reseal()
    except Unavailable as exc:
        log.warning("webhook secrets not re-sealed (the next start tries again): %s", exc)
    else:
        if resealed:
            log.info("re-sealed the secrets of %d webhook endpoints under the current KEK",
                     resealed)
    consuming = asyncio.create_task(loop.run())
    try:
        await stop.wait()
    finally:
        loop.stop()
        await consuming


def run(_: argparse.Namespace) -> int:
    settings = WebhooksSettings()
    telemetry.configure("webhooks", settings.common.log_level, settings.common.otel_exporter)
    serving.run(run_until_signalled(lambda stop: serve(settings, stop)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("webhooks", help="run the webhooks API and dispatcher")
    parser.set_defaults(func=run)
