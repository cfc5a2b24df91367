"""The API-key shell every service with an HTTP API runs: it projects the compacted
`api-keys` topic into an in-memory `KeyTable` and checks `X-API-Key` on each request.

The topic is read from the beginning by a consumer without a group (every process needs
every key) and followed for as long as the process runs; a broker outage only delays new
keys and revocations, it never loses them (the loop re-reads from the beginning, and
applying a snapshot twice changes nothing). Until the first read has caught up with the
log, a tenant key that is not known yet gets 503 rather than a wrong 401.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from schemas import API_KEYS
from schemas.events import ApiKeyState
from services.shared.access import (
    AccessDenied,
    ApiKey,
    Caller,
    KeyTable,
    RateWindows,
    identify,
)
from services.shared.codec import EventCodec
from services.shared.follow import follow

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"


class Keyring:
    def __init__(self, bootstrap: str, admin_key: str, codec: EventCodec,
                 clock: Callable[[], float] = time.time) -> None:
        self.table = KeyTable()
        self.windows = RateWindows()
        self.admin_key = admin_key
        self.caught_up = asyncio.Event()
        self._bootstrap = bootstrap
        self._codec = codec
        self._clock = clock

    def authenticate(self, presented: str | None,
                     metered: bool = True) -> tuple[Caller, ApiKey | None]:
        """Who is calling; a `metered` request also counts against its key's hourly limit."""
        try:
            caller, key = identify(self.table, self.admin_key, presented)
        except AccessDenied:
            if presented and not self.caught_up.is_set():
                raise AccessDenied(503, "keys_loading", "API keys are still being loaded; "
                                   "retry in a moment", {"Retry-After": "2"}) from None
            raise
        if key is not None and metered:
            self.windows.take(key.key_id, key.rate_limit_per_hour, self._clock())
        return caller, key

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topic until `stop`; after a Kafka error, start over from the beginning."""
        await follow(self._bootstrap, API_KEYS, self._codec,
                     lambda event: self.table.apply(event),  # type: ignore[arg-type]
                     self.caught_up, stop)

    def apply(self, event: ApiKeyState) -> ApiKey:
        """Apply a snapshot this process just published (its writer sees it at once)."""
        return self.table.apply(event)


def install(app: FastAPI) -> None:
    """Answer AccessDenied as a coded JSON error with its headers (Retry-After on 429)."""

    @app.exception_handler(AccessDenied)
    async def on_denied(_: Request, exc: AccessDenied) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def caller_of(keyring: Keyring, metered: bool = True) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the request's caller (or AccessDenied)."""

    async def dependency(request: Request) -> Caller:  # async: on the loop, not in a thread
        return keyring.authenticate(request.headers.get(API_KEY_HEADER), metered)[0]

    return dependency
