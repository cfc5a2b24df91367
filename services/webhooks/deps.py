"""FastAPI dependencies of the webhooks API: what routes read from the application's state
(`create_app` puts it there) and the caller. All async (no thread hop for an attribute
read); the aliases are module-level so FastAPI resolves them under PEP 563."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from services.shared.access import Caller
from services.webhooks.endpoints import EndpointAdmin, Refusal
from services.webhooks.replay import Replayer
from services.webhooks.sender import Sender
from services.webhooks.settings import WebhooksSettings
from services.webhooks.store import DeliveryStore


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)
    return read


async def _caller(request: Request) -> Caller:
    caller: Caller = await request.app.state.caller(request)  # keyring.caller_of's
    return caller


async def _admin(request: Request) -> EndpointAdmin:
    admin: EndpointAdmin = request.app.state.admin
    if not admin.directory.caught_up.is_set():
        raise Refusal("endpoints_loading", "the webhook endpoints are still loading; retry "
                      "in a moment", 503)
    return admin


Settings = Annotated[WebhooksSettings, Depends(_state("settings"))]
Who = Annotated[Caller, Depends(_caller)]
Admin = Annotated[EndpointAdmin, Depends(_admin)]
Store = Annotated[DeliveryStore, Depends(_state("store"))]
SenderDep = Annotated[Sender, Depends(_state("sender"))]
ReplayerDep = Annotated[Replayer, Depends(_state("replayer"))]
