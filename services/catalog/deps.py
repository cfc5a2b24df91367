"""FastAPI dependencies of the catalog API: what routes read from the application's state
(`create_app` puts it there): settings, the Postgres pool, the producer (for health), the
projector (when this process runs one), S3, the media links, the console's lag history
and the caller.

Reads are authenticated and scoped, not metered: the hourly limit guards what costs
(uploads and transcodes), and the page alone polls ~1,800 times an hour. The aliases are
module-level, so FastAPI resolves them from the routes' globals even though annotations
are strings (PEP 563); all are async, since FastAPI runs a plain `def` in a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from services.catalog.console_history import ConsoleHistory
from services.catalog.playback_guard import PlaybackGuard
from services.catalog.projector import Projector
from services.catalog.queues import QueueBoard
from services.catalog.settings import CatalogSettings
from services.catalog.views import MediaLinks
from services.shared.access import AccessDenied, Caller
from services.shared.content_keys import ContentKeyring
from services.shared.envelope import Keks
from services.shared.producer import EventProducer


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)
    return read


async def _caller(request: Request) -> Caller:
    caller: Caller = await request.app.state.caller(request)  # keyring.caller_of's
    return caller


async def _admin(who: Annotated[Caller, Depends(_caller)]) -> Caller:
    if not who.admin:
        raise AccessDenied(403, "admin_only", "dead letters are visible to the admin only")
    return who


async def _console_admin(who: Annotated[Caller, Depends(_caller)]) -> Caller:
    if not who.admin:
        raise AccessDenied(403, "admin_only", "the operations console is for the admin only")
    return who


@dataclass(frozen=True, slots=True)
class VideoReads:
    """What the video routes read, as one dependency: FastAPI resolves every dependency
    on its own per request (a nested solve, cache keys, scope checks); with the pool,
    links, caller and queues as four, that was a tenth of the API process' samples under
    load (py-spy, README issue 18). The caller is checked as `Who` checks it."""

    pool: AsyncConnectionPool
    links: MediaLinks
    queues: QueueBoard
    who: Caller


async def _video_reads(request: Request) -> VideoReads:
    state = request.app.state
    return VideoReads(state.pool, state.links, state.queues, await state.caller(request))


Settings = Annotated[CatalogSettings, Depends(_state("settings"))]
Pool = Annotated[AsyncConnectionPool, Depends(_state("pool"))]
Producer = Annotated[EventProducer, Depends(_state("producer"))]
ProjectorDep = Annotated[Projector | None, Depends(_state("projector"))]
S3 = Annotated[Any, Depends(_state("s3"))]
Links = Annotated[MediaLinks, Depends(_state("links"))]
Queues = Annotated[QueueBoard, Depends(_state("queues"))]
Who = Annotated[Caller, Depends(_caller)]
Admin = Annotated[Caller, Depends(_admin)]
ConsoleAdmin = Annotated[Caller, Depends(_console_admin)]
History = Annotated[ConsoleHistory, Depends(_state("console_history"))]
Guard = Annotated[PlaybackGuard, Depends(_state("guard"))]
ContentKeysDep = Annotated[ContentKeyring, Depends(_state("content_keys"))]
KeksDep = Annotated[Keks, Depends(_state("keks"))]
Reads = Annotated[VideoReads, Depends(_video_reads)]
