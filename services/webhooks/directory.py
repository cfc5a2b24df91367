"""The webhook endpoints every webhooks process knows: the compacted `webhook-endpoints`
topic projected into memory (`EndpointTable` is the pure part), followed from the
beginning for as long as the process runs, as the key ring follows `api-keys`. The
secrets are sealed on the topic and clear in memory (`sealing`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import WEBHOOK_ENDPOINTS
from schemas.events import WebhookEndpointState, WebhookSecret
from services.shared.access import ADMIN, Caller
from services.shared.codec import EventCodec
from services.shared.envelope import Keks
from services.shared.follow import follow
from services.webhooks import sealing
from services.webhooks.occurrences import TEST

#: No KEK: secrets in clear, as before the topic sealed them.
NO_KEK = Keks(None, {})


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    owner: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    secrets: tuple[WebhookSecret, ...]
    created_at: datetime
    updated_at: datetime
    deleted: bool = False
    #: Its snapshot on the topic holds secrets in clear or under a previous KEK.
    stale: bool = False

    @classmethod
    def from_event(cls, event: WebhookEndpointState, keks: Keks = NO_KEK) -> Endpoint:
        return cls(event.endpoint_id, event.owner, event.url, event.description,
                   event.event_types, event.enabled, event.disabled_reason,
                   sealing.opened(keks, event), event.created_at, event.occurred_at,
                   event.deleted, sealing.stale(keks, event))

    def snapshot(self, keks: Keks = NO_KEK) -> dict[str, Any]:
        """The event fields of this state, its secrets sealed under the current KEK (the
        caller adds event_id and occurred_at)."""
        clear, sealed = sealing.sealed(keks, self.endpoint_id, self.secrets)
        return {"endpoint_id": self.endpoint_id, "owner": self.owner, "url": self.url,
                "description": self.description, "event_types": self.event_types,
                "enabled": self.enabled, "disabled_reason": self.disabled_reason,
                "secrets": clear, "sealed_secrets": sealed, "created_at": self.created_at,
                "deleted": self.deleted}

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the secrets."""
        return {"id": self.endpoint_id, "owner": self.owner, "url": self.url,
                "description": self.description, "event_types": list(self.event_types),
                "enabled": self.enabled, "disabled_reason": self.disabled_reason,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "secret_rotations_signing": sum(1 for s in self.secrets
                                                if s.expires_at is not None)}

    @property
    def active(self) -> bool:
        return self.enabled and not self.deleted

    def hears(self, kind: str, video_owner: str | None) -> bool:
        """Whether this endpoint gets a webhook of `kind` about a video of `video_owner`:
        its own tenant's videos (every tenant's for the admin), types in its filter."""
        if not self.active:
            return False
        if self.owner != ADMIN and self.owner != video_owner:
            return False
        return kind == TEST or not self.event_types or kind in self.event_types

    def visible_to(self, caller: Caller) -> bool:
        return not self.deleted and caller.may_see(self.owner)


class EndpointTable:
    def __init__(self, keks: Keks = NO_KEK) -> None:
        self.by_id: dict[str, Endpoint] = {}
        self.keks = keks

    def apply(self, event: WebhookEndpointState) -> Endpoint:
        current = self.by_id.get(event.endpoint_id)
        incoming = Endpoint.from_event(event, self.keks)
        if current is not None and current.deleted and not (
                incoming.deleted and incoming.updated_at >= current.updated_at):
            return current  # deletion is final, whatever snapshot arrives late
        if current is not None and current.updated_at > incoming.updated_at:
            return current
        self.by_id[event.endpoint_id] = incoming
        return incoming

    def active(self) -> Iterator[Endpoint]:
        return (e for e in self.by_id.values() if e.active)


class Directory:
    def __init__(self, bootstrap: str, codec: EventCodec, keks: Keks = NO_KEK) -> None:
        self.table = EndpointTable(keks)
        self.caught_up = asyncio.Event()
        self._bootstrap = bootstrap
        self._codec = codec

    async def run(self, stop: asyncio.Event) -> None:
        await follow(self._bootstrap, WEBHOOK_ENDPOINTS, self._codec,
                     lambda event: self.table.apply(event),  # type: ignore[arg-type]
                     self.caught_up, stop)

    def apply(self, event: WebhookEndpointState) -> Endpoint:
        """Apply a snapshot this process just published (its writer sees it at once)."""
        return self.table.apply(event)
