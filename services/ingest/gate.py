"""What every write endpoint does first and last: identify the caller by `X-API-Key`
(counting the request against its hourly limit, touching its last-used time) and honour
`Idempotency-Key`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse

from services.ingest import idempotency
from services.ingest.errors import Unavailable
from services.ingest.idempotency import Claim, IdempotencyStore
from services.ingest.keys import KeyAdmin
from services.shared.access import Caller
from services.shared.keyring import API_KEY_HEADER

log = logging.getLogger(__name__)

REPLAYED = "Idempotent-Replayed"


@dataclass
class Write:
    caller: Caller
    claim: Claim | None = None

    def replayed(self, print_: str) -> tuple[int, dict[str, Any]] | None:
        """(status, body) of the first answer if this request repeats an answered one
        (422 if it differs)."""
        if self.claim is None or self.claim.replay is None:
            return None
        return self.claim.replayed(print_)

    def replay(self, print_: str) -> JSONResponse | None:
        """The first answer as it was, if this request repeats an answered one."""
        if (first := self.replayed(print_)) is None:
            return None
        status, body = first
        return JSONResponse(body, status_code=status, headers={REPLAYED: "true"})


class Gate:
    def __init__(self, keys: KeyAdmin, store: IdempotencyStore) -> None:
        self.keys = keys
        self.store = store

    async def caller(self, request: Request) -> Caller:
        """A FastAPI dependency (async: it runs on the event loop, never in a thread)."""
        caller, key = self.keys.keyring.authenticate(request.headers.get(API_KEY_HEADER))
        if key is not None:
            self.keys.touch(key)
        return caller

    @asynccontextmanager
    async def write(self, request: Request) -> AsyncIterator[Write]:
        """Authenticate and claim the Idempotency-Key; a failure releases the claim."""
        write = Write(await self.caller(request))
        key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
        if key is not None:
            try:
                write.claim = await self.store.claim(write.caller.name, key)
            except (psycopg.Error, TimeoutError) as exc:
                raise Unavailable(f"the idempotency store is unavailable ({exc}); "
                                  "retry later") from exc
        try:
            yield write
        except BaseException:
            if write.claim is not None and write.claim.replay is None:
                await self._quietly(self.store.release(write.claim))
            raise

    async def done(self, write: Write, print_: str, status: int, body: dict[str, Any]) -> None:
        """Remember the answer. The event is already durable, so a failure here is logged,
        not returned: the claim then expires and a retry is treated as new."""
        if write.claim is not None:
            await self._quietly(self.store.complete(write.claim, print_, status, body))

    @staticmethod
    async def _quietly(action: Any) -> None:
        try:
            await action
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("idempotency store: %s", exc)
