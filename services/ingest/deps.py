"""FastAPI dependencies: everything a route needs, read from the application's state
(`create_app` puts it there). The one place routes get settings, producer, store, gate,
ledger, pool and the caller from.

Every dependency is async: FastAPI runs a plain `def` one in a worker thread, a thread
hop per request for a mere attribute read. The aliases are module-level, so FastAPI
resolves them from the routes' globals even though annotations are strings (PEP 563).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from services.ingest.gate import Gate
from services.ingest.keys import KeyAdmin
from services.ingest.ledger import Ledger
from services.ingest.priority import Reprioritisation
from services.ingest.protection import Protection
from services.ingest.resumable import ResumableUploads
from services.ingest.rework import Rework
from services.ingest.settings import IngestSettings
from services.ingest.state import IngestState
from services.ingest.submission import Submission
from services.shared.access import AccessDenied, Caller
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)
    return read


Settings = Annotated[IngestSettings, Depends(_state("settings"))]
Producer = Annotated[EventProducer, Depends(_state("producer"))]
Store = Annotated[ObjectStore, Depends(_state("store"))]
State = Annotated[IngestState, Depends(_state("ingest"))]
Uploads = Annotated[ResumableUploads, Depends(_state("uploads"))]
#: Turns to stream an upload's bytes into S3 (`IngestSettings.concurrent_uploads`).
Streaming = Annotated[asyncio.Semaphore, Depends(_state("streaming"))]


async def _gate(state: State) -> Gate:
    return state.gate


async def _ledger(state: State) -> Ledger:
    return state.ledger


async def _pool(state: State) -> AsyncConnectionPool:
    return state.pool


async def _keys(state: State) -> KeyAdmin:
    return state.keys


GateDep = Annotated[Gate, Depends(_gate)]
LedgerDep = Annotated[Ledger, Depends(_ledger)]
Pool = Annotated[AsyncConnectionPool, Depends(_pool)]
Keys = Annotated[KeyAdmin, Depends(_keys)]


async def _protection(state: State) -> Protection:
    return state.protection


ProtectionDep = Annotated[Protection, Depends(_protection)]


async def _submission(settings: Settings, producer: Producer, store: Store,
                ledger: LedgerDep) -> Submission:
    return Submission(settings, producer, store, ledger)


async def _rework(settings: Settings, producer: Producer, pool: Pool, ledger: LedgerDep) -> Rework:
    return Rework(settings, producer, pool, ledger)


async def _reprioritisation(settings: Settings, producer: Producer, pool: Pool,
                            ledger: LedgerDep) -> Reprioritisation:
    return Reprioritisation(settings, producer, pool, ledger)


SubmissionDep = Annotated[Submission, Depends(_submission)]
ReworkDep = Annotated[Rework, Depends(_rework)]
ReprioritisationDep = Annotated[Reprioritisation, Depends(_reprioritisation)]


async def _caller(request: Request, gate: GateDep) -> Caller:
    return await gate.caller(request)


async def _admin(who: Annotated[Caller, Depends(_caller)]) -> Caller:
    if not who.admin:
        raise AccessDenied(403, "admin_only", "only the admin key may manage API keys")
    return who


Admin = Annotated[Caller, Depends(_admin)]
Who = Annotated[Caller, Depends(_caller)]
