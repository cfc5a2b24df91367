"""`/api/v1/webhooks`: a tenant's endpoints (create, list, read, change, delete, rotate the
secret), its delivery log, and the hand-made deliveries (test, retry, replay). A tenant
sees only its own endpoints (another's is 404); the admin sees and manages all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from services.shared.events import now
from services.webhooks import contract
from services.webhooks.deps import Admin, ReplayerDep, SenderDep, Settings, Store, Who
from services.webhooks.endpoints import Refusal
from services.webhooks.occurrences import TEST, TYPES
from services.webhooks.payloads import test_body
from services.webhooks.store import Queued

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
_TYPES: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": list(TYPES)}}


class NewEndpoint(BaseModel):
    url: str = Field(description="http(s) URL the webhooks are POSTed to", max_length=2048)
    description: str = Field("", max_length=1000)
    event_types: list[str] | None = Field(None, description="types to receive; none or "
                                          "empty: every type", json_schema_extra=_TYPES)
    enabled: bool = True


class EndpointChange(BaseModel):
    url: str | None = Field(None, max_length=2048)
    description: str | None = Field(None, max_length=1000)
    event_types: list[str] | None = Field(None, json_schema_extra=_TYPES)
    enabled: bool | None = Field(None, description="true re-enables an endpoint the "
                                 "dispatcher disabled")


@router.post("", status_code=201, responses=contract.CREATE,
             summary="Create an endpoint; its signing secret is shown only now")
async def create_endpoint(new: Annotated[NewEndpoint, Body()], admin: Admin,
                          who: Who) -> dict[str, Any]:
    endpoint, secret = await admin.create(who.name, new.url, new.description,
                                          new.event_types, new.enabled)
    return {**endpoint.public(), "secret": secret}


@router.get("", responses=contract.LIST, summary="The caller's endpoints (admin: all)")
async def list_endpoints(admin: Admin, who: Who) -> dict[str, Any]:
    found = sorted((e for e in admin.directory.table.by_id.values() if e.visible_to(who)),
                   key=lambda e: e.created_at)
    return {"items": [e.public() for e in found]}


@router.get("/{endpoint_id}", responses=contract.ONE, summary="One endpoint")
async def get_endpoint(endpoint_id: uuid.UUID, admin: Admin, who: Who) -> dict[str, Any]:
    return admin.find(str(endpoint_id), who).public()


@router.patch("/{endpoint_id}", responses=contract.UPDATE,
              summary="Change the URL, filter, description or enabled flag")
async def update_endpoint(endpoint_id: uuid.UUID, change: Annotated[EndpointChange, Body()],
                          admin: Admin, who: Who) -> dict[str, Any]:
    return (await admin.update(str(endpoint_id), who, change.url, change.description,
                               change.event_types, change.enabled)).public()


@router.delete("/{endpoint_id}", responses=contract.ONE,
               summary="Delete an endpoint (final; its pending deliveries are not sent)")
async def delete_endpoint(endpoint_id: uuid.UUID, admin: Admin, who: Who) -> dict[str, Any]:
    return (await admin.delete(str(endpoint_id), who)).public()


@router.post("/{endpoint_id}/rotate-secret", responses=contract.ONE,
             summary="A new signing secret, shown only now; the old one keeps signing "
                     "beside it for `grace_s` seconds")
async def rotate_secret(endpoint_id: uuid.UUID, admin: Admin, who: Who, settings: Settings,
                        grace_s: Annotated[float | None, Query(ge=0, le=7 * 86400)] = None,
                        ) -> dict[str, Any]:
    grace = settings.secret_grace_s if grace_s is None else grace_s
    endpoint, secret = await admin.rotate(str(endpoint_id), who, grace)
    return {**endpoint.public(), "secret": secret}


@router.post("/{endpoint_id}/test", status_code=202, responses=contract.ONE,
             summary="Send a test event (type webhook.test), whatever the filter")
async def send_test(endpoint_id: uuid.UUID, admin: Admin, who: Who, store: Store,
                    sender: SenderDep) -> dict[str, Any]:
    endpoint = admin.find(str(endpoint_id), who)
    message_id, moment = "msg_" + uuid.uuid4().hex, now()
    await store.enqueue(Queued(message_id, TEST, "", moment,
                               test_body(message_id, endpoint.endpoint_id, moment)),
                        [endpoint.endpoint_id], "test")
    sender.wake()
    return {"message_id": message_id, "type": TEST}


@router.post("/{endpoint_id}/replay", status_code=202, responses=contract.ONE,
             summary="Send again, from the event log, every webhook after `since`")
async def replay(endpoint_id: uuid.UUID, admin: Admin, who: Who, replayer: ReplayerDep,
                 sender: SenderDep,
                 since: Annotated[datetime, Query(description="ISO 8601 time")]
                 ) -> dict[str, Any]:
    endpoint = admin.find(str(endpoint_id), who)
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)
    try:
        queued = await replayer.replay(endpoint, moment)
    except (OverflowError, ValueError, OSError) as exc:
        raise Refusal("invalid_request", f"since cannot be replayed from: {exc}") from None
    sender.wake()
    return {"endpoint_id": endpoint.endpoint_id, "since": moment, "queued": queued}


@router.get("/{endpoint_id}/deliveries", responses=contract.ONE,
            summary="The delivery log, newest first: every delivery with every attempt")
async def deliveries(endpoint_id: uuid.UUID, admin: Admin, who: Who, store: Store,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     before: Annotated[int | None, Query(ge=1, le=2**62,
                                                         description="next_before of the "
                                                         "previous page")] = None,
                     ) -> dict[str, Any]:
    endpoint = admin.find(str(endpoint_id), who)
    rows = await store.log(endpoint.endpoint_id, limit, before)
    items = [{k: v for k, v in r.items() if k != "seq"} for r in rows]
    return {"items": items, "next_before": rows[-1]["seq"] if len(rows) == limit else None}


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry", status_code=202,
             responses=contract.RETRY, summary="Send one delivery again now, by hand")
async def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, admin: Admin,
                         who: Who, store: Store, sender: SenderDep) -> dict[str, Any]:
    endpoint = admin.find(str(endpoint_id), who)
    row = await store.retry_now(endpoint.endpoint_id, str(delivery_id))
    if row is None:
        raise Refusal("not_found", f"no delivery {delivery_id} of this endpoint", 404)
    sender.wake()
    return row
