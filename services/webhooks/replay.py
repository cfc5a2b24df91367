"""`POST /api/v1/webhooks/{id}/replay?since=`: the webhooks of every source event after
`since`, read again from the event log and sent to one endpoint, with their original ids.

The log is read with a consumer without a group (it moves no one's offsets): from the
offset of `since` on each partition of the source topics to the log end as it was when
the replay began. A progress event is replayed only if it was its step's webhook; a body
already sent is sent again byte for byte, else it is built as the live path builds it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from schemas import topic_by_name
from schemas.events import Record
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer, started
from services.webhooks.catalog_views import CatalogViews
from services.webhooks.directory import Endpoint
from services.webhooks.intake import queue
from services.webhooks.occurrences import SOURCES, occurrence
from services.webhooks.payloads import body
from services.webhooks.store import DeliveryStore

Found = tuple[datetime, str, int, int, Record]


class Replayer:
    def __init__(self, bootstrap: str, codec: EventCodec, store: DeliveryStore,
                 views: CatalogViews) -> None:
        self.bootstrap = bootstrap
        self.codec = codec
        self.store = store
        self.views = views

    async def replay(self, endpoint: Endpoint, since: datetime) -> int:
        """Enqueue the replay; returns how many deliveries it made."""
        queued = 0
        for at, topic, partition, offset, event in sorted(await self._read(since),
                                                          key=lambda f: (f[0], f[1])):
            found = occurrence(topic, event)
            if found is None or at <= since:
                continue
            if found.step is not None and not await self.store.first_of_step(
                    found.step, found.message_id):
                continue
            payload = await self.store.stored_payload(found.message_id)
            if payload is None:
                view = await self.views.view(found.video_id, topic, partition, offset)
                payload = body(found, view)
            if endpoint.hears(found.type, _owner(payload)):
                queued += await self.store.enqueue(queue(found, payload),
                                                   [endpoint.endpoint_id], "replay")
        return queued

    async def _read(self, since: datetime) -> list[Found]:
        parts = [TopicPartition(t.name, p) for t in SOURCES for p in range(t.partitions)]
        found: list[Found] = []
        async with started(new_consumer(self.bootstrap)) as consumer:
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            starts = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in parts})
            todo = {}
            for tp in parts:
                begin = starts[tp].offset if starts.get(tp) is not None else ends[tp]
                if begin < ends[tp]:
                    consumer.seek(tp, begin)
                    todo[tp] = ends[tp]
                else:
                    consumer.pause(tp)
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= todo.get(tp, -1):
                            continue
                        try:
                            event = self.codec.decode(topic_by_name(tp.topic), record.value)
                        except UndecodableRecord:
                            continue  # dead-lettered by the live path already
                        found.append((event.occurred_at, tp.topic,  # type: ignore[attr-defined]
                                      tp.partition, record.offset, event))
                for tp in list(todo):
                    if await consumer.position(tp) >= todo[tp]:
                        del todo[tp]
                        consumer.pause(tp)
        return found


def _owner(payload: str) -> str | None:
    data: Any = json.loads(payload).get("data") or {}
    owner = data.get("owner") if isinstance(data, dict) else None
    return owner if isinstance(owner, str) else None
