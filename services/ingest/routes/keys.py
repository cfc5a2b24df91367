"""`/api/v1/admin/api-keys`: issue, list and revoke API keys (admin key only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body

from services.ingest import contract
from services.ingest.deps import Admin, Keys
from services.ingest.keys import NewKey

router = APIRouter(prefix="/api/v1/admin/api-keys", tags=["admin"])


@router.post("", status_code=201, responses=contract.KEYS,
             summary="Issue a key; its clear value is shown only now")
async def create_key(new: Annotated[NewKey, Body()], admin: Keys, _: Admin) -> dict[str, Any]:
    key, clear = await admin.create(new.name, new.rate_limit_per_hour)
    return {**key.public(), "api_key": clear}


@router.get("", responses=contract.KEY,
            summary="Every key: name, active, rate limit, created and last used")
async def list_keys(admin: Keys, _: Admin) -> dict[str, Any]:
    keys = sorted(admin.keyring.table.by_id.values(), key=lambda k: k.created_at)
    return {"items": [k.public() for k in keys]}


@router.delete("/{key_id}", responses=contract.KEY, summary="Revoke a key (final)")
async def revoke_key(key_id: uuid.UUID, admin: Keys, _: Admin) -> dict[str, Any]:
    return (await admin.revoke(str(key_id))).public()
