"""The session broker refuses every principal outside its own topics (README "Kafka
principals"): the upstream principal may produce `video-uploaded` and nothing else, the
transcode principal cannot read `api-keys`, and a client without credentials (or with a
wrong password) cannot connect at all, on the client or the controller listener."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from schemas import API_KEYS, RENDITION_DONE, VIDEO_UPLOADED
from schemas.principals import ADMIN
from services.shared.kafka_security import (
    Credentials,
    acting_as,
    client_options,
    stack_principal,
)
from services.stack import kafka_principals
from tests.slot import TEST_ENV, TEST_STATE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BOOTSTRAP = TEST_ENV["REELFLOW_KAFKA_BOOTSTRAP"]
CONTROLLER = f"127.0.0.1:{TEST_ENV['REELFLOW_STACK_KAFKA_CONTROLLER_PORT']}"


def as_principal(name: str) -> dict[str, Any]:
    with acting_as(stack_principal(TEST_STATE, name)):
        return client_options()


async def _produce(options: dict[str, Any], topic: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, request_timeout_ms=10000,
                                **options)
    await producer.start()
    try:
        sent = await asyncio.wait_for(producer.send_and_wait(topic, b"not an event",
                                                             key=str(uuid.uuid4()).encode()), 30)
        return int(sent.offset)
    finally:
        await producer.stop()


def test_upstream_may_produce_video_uploaded_and_nothing_else(local_stack: object) -> None:
    upstream = as_principal("upstream")
    assert asyncio.run(_produce(upstream, VIDEO_UPLOADED.name)) >= 0
    for topic in (RENDITION_DONE.name, API_KEYS.name):
        with pytest.raises(TopicAuthorizationFailedError):
            asyncio.run(_produce(upstream, topic))


async def _subscribe(options: dict[str, Any], topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **options)
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 20)
    finally:
        await consumer.stop()


def test_transcode_cannot_read_api_keys(local_stack: object) -> None:
    transcode = as_principal("transcode")
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_subscribe(transcode, API_KEYS.name, "transcode"))
    # Its own topic, but another service's group: refused too.
    with pytest.raises(GroupAuthorizationFailedError):
        asyncio.run(_subscribe(transcode, VIDEO_UPLOADED.name, "catalog"))


async def _connect(options: dict[str, Any], address: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=address, request_timeout_ms=5000, **options)
    try:
        await asyncio.wait_for(admin.start(), 30)
        await asyncio.wait_for(admin.list_topics(), 30)
    finally:
        await admin.close()


@pytest.mark.parametrize("address", [BOOTSTRAP, CONTROLLER], ids=["client", "controller"])
def test_a_client_without_credentials_cannot_connect(local_stack: object, address: str) -> None:
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_connect({"security_protocol": "PLAINTEXT"}, address))
    with acting_as(Credentials("upstream", "not-its-password")):
        wrong = client_options()
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_connect(wrong, address))
    # The oracle that the refusal is about credentials: the admin connects.
    if address == BOOTSTRAP:
        asyncio.run(_connect(as_principal(ADMIN), address))


def test_the_broker_holds_exactly_the_registry_acls_after_a_second_up(
        local_stack: Any) -> None:
    """`stack up` on the running stack changes nothing; an ACL the registry does not imply
    is removed by the next one."""
    async def sync(stray: bool) -> tuple[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **as_principal(ADMIN))
        await admin.start()
        try:
            if stray:
                rogue = kafka_principals.Acl("upstream", "topic", API_KEYS.name, "WRITE")
                await admin._send_request(kafka_principals._CreateAcls([rogue]))
                # The broker's authorizer applies the controller's record a moment later.
                for _ in range(50):
                    described = await admin._send_request(kafka_principals._DescribeAllAcls())
                    if any(name == API_KEYS.name and any(e[0] == "User:upstream" for e in acl)
                           for _, name, _, acl in described.resources):
                        break
                    await asyncio.sleep(0.1)
            return await kafka_principals.sync_acls(admin)
        finally:
            await admin.close()

    local_stack.up(infra_only=True)
    assert asyncio.run(sync(stray=False)) == (0, 0)
    assert asyncio.run(sync(stray=True)) == (0, 1)
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(as_principal("upstream"), API_KEYS.name))


def test_a_principal_that_appears_on_an_existing_stack_gets_credentials_once(
        local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service added to the registry after the log was formatted: the next `up` creates
    its SCRAM credentials on the running broker, and the one after that does nothing."""
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}"
    wanted = kafka_principals.wanted_principals()
    monkeypatch.setattr(kafka_principals, "wanted_principals", lambda: (*wanted, newcomer))
    local_stack.kafka.grant_access()
    asyncio.run(_connect(as_principal(newcomer), BOOTSTRAP))
    users = kafka_principals.ScramUsers(local_stack.kafka.data)
    assert newcomer in users.known()
    # Its password is kept, so a second grant has nobody to add and the login still works.
    local_stack.kafka.grant_access()
    asyncio.run(_connect(as_principal(newcomer), BOOTSTRAP))
