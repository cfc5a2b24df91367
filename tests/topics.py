"""A topic of a test's own on the session's broker (the stack creates only the registry's)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.shared.kafka_security import client_options


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
