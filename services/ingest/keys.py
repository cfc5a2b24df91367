"""API-key administration (routes in `routes.keys`, admin key only) and last-used touches.

Ingest is the one writer of `api-keys`. Every change publishes the key's full state, applied
to this process's key table as soon as Kafka acknowledged it (other processes, the catalog
included, see it when they read it from the topic, typically within a second). Changes are
serialised by one lock and built from the current state, so a touch never undoes a revoke.
Last-used times are debounced: at most one snapshot per key per minute.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import replace

from aiokafka.errors import KafkaError
from pydantic import BaseModel, Field

from schemas import API_KEYS
from schemas.events import ApiKeyState
from services.ingest.errors import Rejection, Unavailable
from services.shared.access import (
    ADMIN,
    ApiKey,
    hash_key,
    new_clear_key,
    touch_due,
)
from services.shared.events import new_event_id, now
from services.shared.keyring import Keyring
from services.shared.producer import EventProducer

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class NewKey(BaseModel):
    # The bounds are checked by `create` (coded invalid_key_name / invalid_rate_limit);
    # the schema states them so a client knows them before it asks.
    name: str = Field(description="the tenant: owner of the videos submitted with this key",
                      json_schema_extra={"pattern": _NAME.pattern, "not": {"const": ADMIN}})
    rate_limit_per_hour: int | None = Field(None, description="default 100",
                                            json_schema_extra={"minimum": 1,
                                                               "maximum": 1_000_000})


class KeyAdmin:
    def __init__(self, keyring: Keyring, producer: EventProducer, publish_timeout_s: float,
                 default_rate_limit: int) -> None:
        self.keyring = keyring
        self.producer = producer
        self.publish_timeout_s = publish_timeout_s
        self.default_rate_limit = default_rate_limit
        self._lock = asyncio.Lock()
        self._touches: set[asyncio.Task[None]] = set()

    async def _publish(self, state: ApiKey) -> ApiKey:
        event = ApiKeyState(event_id=new_event_id(), occurred_at=now(),
                            **state.snapshot())
        try:
            await self.producer.publish(API_KEYS, event, timeout_s=self.publish_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc
        return self.keyring.apply(event)

    async def create(self, name: str, rate_limit: int | None) -> tuple[ApiKey, str]:
        if not _NAME.match(name) or name == ADMIN:
            raise Rejection("invalid_key_name", "name must be 1-64 letters, digits, '.', '_' "
                            f"or '-' (and not {ADMIN!r})")
        limit = self.default_rate_limit if rate_limit is None else rate_limit
        if not 1 <= limit <= 1_000_000:
            raise Rejection("invalid_rate_limit", "rate_limit_per_hour must be 1-1000000")
        clear = new_clear_key()
        state = ApiKey(str(uuid.uuid4()), name, hash_key(clear), True, limit, now())
        async with self._lock:
            return await self._publish(state), clear

    async def revoke(self, key_id: str) -> ApiKey:
        async with self._lock:
            current = self.keyring.table.by_id.get(key_id)
            if current is None:
                raise Rejection("not_found", f"no API key {key_id}", 404)
            if current.revoked_at is not None:
                return current
            return await self._publish(replace(current, active=False, revoked_at=now()))

    def touch(self, key: ApiKey) -> None:
        """Record a use in the background, at most once a minute per key."""
        if touch_due(key.last_used_at, now()):
            # Applied locally at once, so the requests right behind this one do not touch.
            self.keyring.table.by_id[key.key_id] = replace(key, last_used_at=now())
            task = asyncio.create_task(self._touch(key.key_id))
            self._touches.add(task)
            task.add_done_callback(self._touches.discard)

    async def _touch(self, key_id: str) -> None:
        async with self._lock:
            current = self.keyring.table.by_id[key_id]
            try:
                await self._publish(current)
            except Unavailable as exc:
                log.warning("last-used of key %s not published: %s", key_id, exc)
