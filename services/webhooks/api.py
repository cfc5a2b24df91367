"""The webhooks HTTP application: the routers (`routes/`), the state they read through
`deps`, and how refusals are answered (the shared `{error, detail}` model). Every
`/api/v1/webhooks` route needs `X-API-Key`; an endpoint belongs to the key's tenant."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.shared import api_document, http_errors
from services.shared import keyring as keys
from services.shared.keyring import Keyring
from services.shared.producer import EventProducer
from services.webhooks.endpoints import EndpointAdmin, Refusal, Unavailable
from services.webhooks.replay import Replayer
from services.webhooks.routes import health, webhooks
from services.webhooks.sender import Sender
from services.webhooks.settings import WebhooksSettings
from services.webhooks.store import DeliveryStore


def create_app(settings: WebhooksSettings, producer: EventProducer, keyring: Keyring,
               admin: EndpointAdmin, store: DeliveryStore, sender: Sender,
               replayer: Replayer) -> FastAPI:
    app = FastAPI(title="Reelflow webhooks", version="1",
                  description="Webhook endpoints, their delivery log, test and replay.",
                  dependencies=[Depends(http_errors.plain_parameters)])
    state: Any = app.state
    state.settings, state.producer, state.admin = settings, producer, admin
    state.store, state.sender, state.replayer = store, sender, replayer
    # Reads are not metered: the hourly limit guards uploads; a client may poll the log.
    state.caller = keys.caller_of(keyring, metered=False)
    keys.install(app)
    http_errors.install(app)
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Refusal, _on_refusal)  # type: ignore[arg-type]
    app.add_exception_handler(Unavailable, _on_unavailable)  # type: ignore[arg-type]
    for router in (health.router, webhooks.router):
        app.include_router(router)
    api_document.install(app, open_prefixes=("/health", "/metrics"))
    return app


async def _on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": "invalid_request",
                         "detail": http_errors.validation_problems(exc)}, status_code=422)


async def _on_refusal(_: Request, exc: Refusal) -> JSONResponse:
    headers = {"Retry-After": "2"} if exc.status == 503 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _on_unavailable(_: Request, exc: Unavailable) -> JSONResponse:
    return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503,
                        headers={"Retry-After": "5"})
