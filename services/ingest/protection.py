"""Protected playback on the ingest side (issue 14), without HTTP: the policy a submission
asks for, later policy changes, and the tenants' signing keys. Routes: `routes.playback`.

- A submission's `playback_policy` is `public` or `signed`; when it names none, the
  tenant's default (`REELFLOW_INGEST_TENANT_PLAYBACK_POLICIES`), else
  `REELFLOW_INGEST_DEFAULT_PLAYBACK_POLICY`. `encryption` is null or `cbcs`, and an
  encrypted video is always signed (asking for `public` with `cbcs` is refused).
- A policy change is a `playback-policy-changed` event; ingest's ledger keeps the current
  policy in the video's submission, so a reprocess repeats it.
- Signing keys (RS256) are created in the request: the private key is in that answer only;
  `signing-keys` carries the public key and kid. A tenant manages its own keys, the admin
  every key.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from aiokafka.errors import KafkaError
from pydantic import BaseModel, Field

from schemas import PLAYBACK_POLICY_CHANGED, SIGNING_KEYS
from schemas.events import PlaybackPolicyChanged, SigningKeyState
from services.ingest.errors import Rejection, Unavailable
from services.ingest.ledger import Ledger
from services.shared.access import Caller
from services.shared.events import new_event_id, now
from services.shared.producer import EventProducer
from services.shared.signing_keys import SigningKey, SigningKeyring, new_keypair

POLICIES = ("public", "signed")
ENCRYPTIONS = ("cbcs",)


def parse_protection(policy: str | None, encryption: str | None,
                     default_policy: str) -> tuple[str, str | None]:
    """(playback_policy, encryption) of a submission; coded refusals otherwise. Pure."""
    if encryption in (None, "", "none"):
        encryption = None
    elif encryption not in ENCRYPTIONS:
        raise Rejection("invalid_encryption", "encryption must be null or \"cbcs\"")
    if policy in (None, ""):
        policy = "signed" if encryption else default_policy
    if policy not in POLICIES:
        raise Rejection("invalid_playback_policy", "playback_policy must be \"public\" or "
                        "\"signed\"")
    if encryption and policy != "signed":
        raise Rejection("invalid_playback_policy", "an encrypted video must be signed: its "
                        "keys are handed out to holders of a playback token only")
    return policy, encryption


def tenant_default(tenant: str, defaults: Mapping[str, str], fallback: str) -> str:
    return defaults.get(tenant, fallback)


class PolicyBody(BaseModel):
    playback_policy: str = Field(description="public | signed",
                                 json_schema_extra={"enum": list(POLICIES)})


class NewSigningKey(BaseModel):
    owner: str | None = Field(None, description="the admin may create a key for a tenant; "
                              "otherwise the caller's own tenant")


class Protection:
    def __init__(self, producer: EventProducer, ledger: Ledger, signing: SigningKeyring,
                 publish_timeout_s: float) -> None:
        self.producer, self.ledger, self.signing = producer, ledger, signing
        self.publish_timeout_s = publish_timeout_s
        self._lock = asyncio.Lock()

    async def set_policy(self, caller: Caller, video_id: str, policy: str) -> dict[str, Any]:
        if policy not in POLICIES:
            raise Rejection("invalid_playback_policy", "playback_policy must be \"public\" "
                            "or \"signed\"")
        try:
            found = await self.ledger.protection(video_id)
        except psycopg.Error as exc:
            raise Unavailable(f"ingest's database is unavailable ({exc}); retry later") from exc
        if found is None or not caller.may_see(found[0]):
            raise Rejection("video_not_found", f"no video {video_id} of yours", 404)
        if found[1] and policy != "signed":
            raise Rejection("invalid_playback_policy", "an encrypted video stays signed", 409)
        event = PlaybackPolicyChanged(event_id=new_event_id(), video_id=video_id,
                                      occurred_at=now(), playback_policy=policy,
                                      requested_by=caller.name)
        await self._publish(self.producer.publish(PLAYBACK_POLICY_CHANGED, event,
                                                  timeout_s=self.publish_timeout_s))
        # Now, so a reprocess right behind it repeats it; else ingest's consumer records it.
        with contextlib.suppress(psycopg.Error):
            await self.ledger.record_policy(event)
        return {"video_id": video_id, "playback_policy": policy}

    async def create_key(self, caller: Caller, owner: str | None) -> dict[str, Any]:
        if owner is not None and not caller.admin and owner != caller.name:
            raise Rejection("admin_only", "only the admin may create another tenant's key", 403)
        private_pem, public_pem = await asyncio.to_thread(new_keypair)
        at = now()
        state = SigningKeyState(event_id=new_event_id(), occurred_at=at, kid=str(uuid.uuid4()),
                                owner=owner or caller.name, public_key_pem=public_pem,
                                active=True, created_at=at)
        async with self._lock:
            key = await self._apply(state)
        return {**key.public(), "private_key_pem": private_pem}

    def keys_of(self, caller: Caller) -> list[dict[str, Any]]:
        keys = sorted(self.signing.table.by_kid.values(), key=lambda k: k.state.created_at)
        return [k.public() for k in keys if caller.admin or k.owner == caller.name]

    async def revoke_key(self, caller: Caller, kid: str) -> dict[str, Any]:
        async with self._lock:
            current = self.signing.table.by_kid.get(kid)
            if current is None or not (caller.admin or current.owner == caller.name):
                raise Rejection("not_found", f"no signing key {kid} of yours", 404)
            if current.revoked_at is not None:
                return current.public()
            at = now()
            return (await self._apply(current.state.replace(
                event_id=new_event_id(), occurred_at=at, active=False,
                revoked_at=at))).public()

    async def _apply(self, event: SigningKeyState) -> SigningKey:
        await self._publish(self.producer.publish(SIGNING_KEYS, event,
                                                  timeout_s=self.publish_timeout_s))
        return self.signing.apply(event)

    @staticmethod
    async def _publish(sending: Any) -> None:
        try:
            await sending
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the event log is unavailable ({exc!r}); retry later") from exc

