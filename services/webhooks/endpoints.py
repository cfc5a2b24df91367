"""Endpoint administration: create, change, rotate the secret, delete, and the dispatcher's
disabling. Every change publishes the endpoint's full state on `webhook-endpoints` (the
webhooks service is its one writer), its secrets sealed under the KEK (`sealing`), and is
applied to this process's table once Kafka acknowledged it. Changes are serialised by one
lock and built from the current state. At start, `reseal` writes again every endpoint whose
snapshot still holds secrets in clear or under a previous KEK."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

from aiokafka.errors import KafkaError

from schemas import WEBHOOK_ENDPOINTS
from schemas.events import WebhookEndpointState, WebhookSecret
from services.shared.access import Caller
from services.shared.events import new_event_id, now
from services.shared.producer import EventProducer
from services.webhooks import guard
from services.webhooks.directory import Directory, Endpoint
from services.webhooks.occurrences import TYPES
from services.webhooks.signing import new_secret


class Refusal(Exception):
    def __init__(self, code: str, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status

    def body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class Unavailable(Exception):
    pass


class EndpointAdmin:
    def __init__(self, directory: Directory, producer: EventProducer,
                 allowed: tuple[guard.Network, ...], publish_timeout_s: float) -> None:
        self.directory = directory
        self.producer = producer
        self.allowed = allowed
        self.publish_timeout_s = publish_timeout_s
        self._lock = asyncio.Lock()

    def find(self, endpoint_id: str, caller: Caller) -> Endpoint:
        found = self.directory.table.by_id.get(endpoint_id)
        if found is None or not found.visible_to(caller):
            raise Refusal("not_found", f"no webhook endpoint {endpoint_id}", 404)
        return found

    async def _vet(self, url: str) -> None:
        try:
            await guard.vet(url, self.allowed)
        except guard.UrlRefused as exc:
            raise Refusal(exc.code, exc.detail) from None

    @staticmethod
    def _types(types: list[str] | None) -> tuple[str, ...]:
        unknown = sorted(set(types or ()) - set(TYPES))
        if unknown:
            raise Refusal("invalid_event_types", f"unknown event types {unknown}; known: "
                          f"{list(TYPES)}")
        return tuple(dict.fromkeys(types or ()))

    async def _publish(self, state: Endpoint) -> Endpoint:
        event = WebhookEndpointState(event_id=new_event_id(), occurred_at=now(),
                                     **state.snapshot(self.directory.table.keks))
        try:
            await self.producer.publish(WEBHOOK_ENDPOINTS, event,
                                        timeout_s=self.publish_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc
        return self.directory.apply(event)

    async def create(self, owner: str, url: str, description: str, types: list[str] | None,
                     enabled: bool) -> tuple[Endpoint, str]:
        await self._vet(url)
        secret, moment = new_secret(), now()
        state = Endpoint(str(uuid.uuid4()), owner, url, description, self._types(types),
                         enabled, None, (WebhookSecret(secret=secret, created_at=moment),),
                         moment, moment)
        async with self._lock:
            return await self._publish(state), secret

    async def update(self, endpoint_id: str, caller: Caller, url: str | None,
                     description: str | None, types: list[str] | None,
                     enabled: bool | None) -> Endpoint:
        self.find(endpoint_id, caller)  # an unknown endpoint is 404 whatever the change
        if url is not None:
            await self._vet(url)
        async with self._lock:
            current = self.find(endpoint_id, caller)
            changed = replace(
                current, url=url if url is not None else current.url,
                description=description if description is not None else current.description,
                event_types=self._types(types) if types is not None else current.event_types)
            if enabled is not None:
                changed = replace(changed, enabled=enabled, disabled_reason=None)
            return await self._publish(changed)

    async def rotate(self, endpoint_id: str, caller: Caller,
                     grace_s: float) -> tuple[Endpoint, str]:
        """A new current secret; the old ones keep signing for `grace_s` (at most)."""
        async with self._lock:
            current = self.find(endpoint_id, caller)
            moment, secret = now(), new_secret()
            until = moment + timedelta(seconds=grace_s)
            kept = tuple(replace(s, expires_at=min(s.expires_at or until, until))
                         for s in current.secrets
                         if s.expires_at is None or s.expires_at > moment)
            if grace_s <= 0:
                kept = ()
            fresh = WebhookSecret(secret=secret, created_at=moment)
            return await self._publish(replace(current, secrets=(fresh, *kept))), secret

    async def delete(self, endpoint_id: str, caller: Caller) -> Endpoint:
        async with self._lock:
            current = self.find(endpoint_id, caller)
            return await self._publish(replace(current, deleted=True, enabled=False))

    async def reseal(self) -> int:
        """Write again, sealed under the current KEK, every endpoint whose snapshot is in
        clear or under a previous KEK (its state unchanged); how many were."""
        done = 0
        async with self._lock:
            for endpoint in [e for e in self.directory.table.by_id.values() if e.stale]:
                await self._publish(endpoint)
                done += 1
        return done

    async def disable(self, endpoint_id: str, reason: str) -> Endpoint | None:
        """The dispatcher's: an endpoint that answered 410 or kept failing is disabled, and
        the snapshot that says so (with its reason) is the event of it."""
        async with self._lock:
            current = self.directory.table.by_id.get(endpoint_id)
            if current is None or not current.active:
                return current
            return await self._publish(replace(current, enabled=False, disabled_reason=reason))
