"""`reelflow catalog [--role all|api|projector]`: the catalog process.
`reelflow catalog rebuild [--keep-old]`: rebuild the read models from the log (see `rebuild`).

`all` (the default) runs the HTTP API and the projector in one asyncio loop; `api` and
`projector` split them for scaling (a projector-only process still serves `/health` and
`/metrics` on the catalog port). Migrations are applied at start, whatever the role.

  consume  every pipeline topic (`schemas.PIPELINE_TOPICS`, dead-letter included), and
           api-keys, signing-keys and content-keys (wrapped) for the API's key tables
  decide   Projector: fold each batch into the Postgres read models, effectively once
           (the offsets are stored in the batch's transaction)
  emit     dead-letter only (records it cannot decode or project); the HTTP API serves
           the read models
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any

import orjson
import psycopg
from aiokafka.errors import KafkaError
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from schemas import ALL_TOPICS
from services.catalog.api import Role, create_app, front
from services.catalog.console_sampler import sample_forever
from services.catalog.lag_exporter import lag_exporter
from services.catalog.projector import Projector
from services.catalog.queues import LaneQueues
from services.catalog.rebuild import add_parser as add_rebuild
from services.catalog.schema import migrate
from services.catalog.settings import CatalogSettings
from services.catalog.transcripts import TranscriptIndexer
from services.shared import serving, telemetry
from services.shared.codec import EventCodec
from services.shared.content_keys import ContentKeyring
from services.shared.keyring import Keyring
from services.shared.lifecycle import (
    postgres_address,
    run_together,
    run_until_signalled,
    wait_for_dependency,
    wait_for_kafka,
)
from services.shared.producer import EventProducer
from services.shared.signing_keys import SigningKeyring
from services.shared.storage import s3_client

log = logging.getLogger(__name__)
ROLES: tuple[Role, ...] = ("all", "api", "projector")


async def _migrate(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        applied = await migrate(conn)
    if applied:
        log.info("applied migrations %s", applied)


async def run(settings: CatalogSettings, role: Role = "all",
              stop: asyncio.Event | None = None) -> None:
    """Serve (and/or project) until `stop` is set or one of the process's parts exits."""
    stop = stop or asyncio.Event()
    common, deadline = settings.common, time.monotonic() + settings.startup_timeout_s
    await wait_for_dependency("Postgres", postgres_address(common.pg_dsn),
                              lambda: _migrate(common.pg_dsn), (psycopg.OperationalError,),
                              settings.startup_timeout_s)
    codec = EventCodec(ALL_TOPICS)
    producer = EventProducer(common.kafka_bootstrap, codec, settings.group_id)  # emit
    await wait_for_kafka(common.kafka_bootstrap, producer.start,
                         max(1.0, deadline - time.monotonic()))
    pool = await _api_pool(settings, deadline)
    projector = Projector(settings, codec, producer) if role != "api" else None  # decide
    keyring = Keyring(common.kafka_bootstrap, common.admin_key, codec)
    signing = SigningKeyring(common.kafka_bootstrap, codec)
    content_keys = ContentKeyring(common.kafka_bootstrap, codec)
    queues = LaneQueues(common.kafka_bootstrap, codec)
    app = create_app(settings, pool, producer, projector, s3_client(common), keyring, role,
                     signing=signing, content_keys=content_keys, queues=queues.board)
    # What start-up loaded (modules, the app, its routes and schemas, the clients: some
    # 150,000 objects) lives as long as the process. Frozen out of the collector's sight,
    # a full collection walks only what requests allocate: with them in, each took about
    # 80 ms (in-process), a stall of every request in flight, and 12 % of the API process'
    # samples under load (py-spy, README issue 18).
    gc.freeze()
    server = serving.server(front(app), settings.host, settings.port, lifespan="off")
    jobs: dict[str, Coroutine[Any, Any, Any]] = {
        "http": serving.serve(server, reuse_port=settings.reuse_port)}
    if projector is not None:  # consume every pipeline topic into the read models
        jobs["projector"] = projector.run(stop)
        # the words of each captions rendition the projector stored, for search
        jobs["transcripts"] = TranscriptIndexer(common).run(stop)
    if role != "projector":  # consume api-keys into the table requests are checked against
        jobs["keyring"] = keyring.run(stop)
        jobs["signing"] = signing.run(stop)  # the public keys tokens are checked with
        jobs["content"] = content_keys.run(stop)  # wrapped keys for the license service
        jobs["queues"] = queues.run(stop)  # lane-queue: positions and estimated starts
    if settings.lag_refresh_s > 0:
        jobs["lag"] = lag_exporter(common, stop, settings.lag_refresh_s)
    if role != "projector" and settings.console_sample_s > 0:  # the console's lag history
        jobs["console"] = sample_forever(common, app.state.console_history, stop,
                                         settings.console_sample_s)
    log.info("catalog (%s) on http://%s:%d", role, settings.host, settings.port)
    try:
        await run_together(jobs, stop, on_stop=lambda: setattr(server, "should_exit", True))
    finally:
        await pool.close()
        with contextlib.suppress(KafkaError):
            await producer.stop()


async def _api_pool(settings: CatalogSettings, deadline: float) -> AsyncConnectionPool:
    # Autocommit: every API read is one statement or a pipeline of independent ones, so an
    # implicit BEGIN and the pool's ROLLBACK on return would only add two round trips.
    pool = AsyncConnectionPool(settings.common.pg_dsn, min_size=1,
                               max_size=settings.api_pool_size, open=False,
                               kwargs={"autocommit": True}, configure=_configure)
    await pool.open(wait=True, timeout=max(1.0, deadline - time.monotonic()))
    return pool


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # jsonb columns parsed by orjson: the same values, in a fraction of json.loads' time.
    set_json_loads(orjson.loads, conn)


def niceness(role: Role, settings: CatalogSettings) -> int:
    """The process' niceness: a projector-only process yields to the API
    (`projector_nice`); a process that serves requests keeps the default."""
    return settings.projector_nice if role == "projector" else 0


def _main(args: argparse.Namespace) -> int:
    settings = CatalogSettings()
    nice = niceness(args.role, settings)
    if nice:
        os.nice(nice)  # yields the shared cores to the API
    telemetry.configure("catalog", settings.common.log_level, settings.common.otel_exporter)
    serving.run(run_until_signalled(lambda stop: run(settings, args.role, stop)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "catalog", help="run the catalog: query API and/or projector into Postgres",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=ROLES, default="all",
                        help="api, projector, or both in one process (default)")
    parser.set_defaults(func=_main)
    commands = parser.add_subparsers(dest="catalog_command", metavar="{rebuild}")
    add_rebuild(commands)
