"""Everything ingest keeps beyond a request, and its lifecycle: the Postgres pool (schema
`ingest`, migrated at start), the API-key ring following `api-keys`, and ingest's own
consumer group projecting `video-uploaded` and the attempts' endings into its ledger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from services.ingest.gate import Gate
from services.ingest.idempotency import IdempotencyStore
from services.ingest.keys import KeyAdmin
from services.ingest.ledger import TOPICS, Ledger, LedgerProjection
from services.ingest.protection import Protection
from services.ingest.settings import IngestSettings
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.keyring import Keyring
from services.shared.lifecycle import postgres_address, wait_for_dependency, wait_for_kafka
from services.shared.migrations import migrate
from services.shared.producer import EventProducer
from services.shared.signing_keys import SigningKeyring

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "ingest"


class IngestState:
    def __init__(self, settings: IngestSettings, producer: EventProducer) -> None:
        self.settings = settings
        self.producer = producer
        common = settings.common
        self.pool = AsyncConnectionPool(common.pg_dsn, min_size=1, max_size=settings.pool_size,
                                        open=False)
        self.ledger = Ledger(self.pool)
        self.keyring = Keyring(common.kafka_bootstrap, common.admin_key, producer.codec)
        self.keys = KeyAdmin(self.keyring, producer, settings.publish_timeout_s,
                             common.default_rate_limit_per_hour)
        self.signing = SigningKeyring(common.kafka_bootstrap, producer.codec)
        self.protection = Protection(producer, self.ledger, self.signing,
                                     settings.publish_timeout_s)
        self.gate = Gate(self.keys, IdempotencyStore(self.pool,
                                                     settings.idempotency_claim_timeout_s))

    async def _migrate(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.settings.common.pg_dsn) as conn:
            applied = await migrate(conn, MIGRATIONS, SCHEMA)
        if applied:
            log.info("applied ingest migrations %s", applied)

    @asynccontextmanager
    async def running(self, producer: EventProducer) -> AsyncIterator[None]:
        patience = self.settings.startup_timeout_s
        await wait_for_dependency("Postgres", postgres_address(self.settings.common.pg_dsn),
                                  self._migrate, (psycopg.OperationalError,), patience)
        await self.pool.open(wait=True, timeout=patience)
        await wait_for_kafka(producer.bootstrap, producer.start, patience)
        stop = asyncio.Event()
        loop = ConsumeLoop(LoopSettings(self.settings.group_id, TOPICS,
                                        concurrency=self.settings.ledger_concurrency),
                           self.settings.common.kafka_bootstrap, producer.codec, producer,
                           LedgerProjection(self.ledger))
        tasks = [asyncio.create_task(self.keyring.run(stop), name="keyring"),
                 asyncio.create_task(self.signing.run(stop), name="signing"),
                 asyncio.create_task(loop.run(), name="ledger")]
        try:
            yield
        finally:
            stop.set()
            loop.stop()
            for task in tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
            await producer.stop()
            await self.pool.close()
