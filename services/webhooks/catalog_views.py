"""Every payload's `data`: the catalog's own answer to `GET /api/v1/videos/{id}`, read from
the catalog's API with the admin key once the catalog has applied the source event.

Why the API rather than the catalog's pure fold and views run here: the answer is then the
catalog's by construction (its read model, its rendering, its URLs), the dispatcher keeps
no second copy of every video's state, and the catalog's table keeps its one owner.

"Applied" is read from the catalog's consumer group: the catalog commits its offsets to
Kafka after the Postgres transaction that applied the batch, so a committed offset past
the source record means the view includes it. That commit is best effort, so the wait is
bounded (`catalog_wait_s`); after it the view is read as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.shared.kafka_security import client_options
from services.shared.keyring import API_KEY_HEADER

log = logging.getLogger(__name__)


class CatalogUnavailable(ConnectionRefusedError):
    """The catalog did not answer: an outage the consume loop waits out."""


class CatalogViews:
    def __init__(self, catalog_url: str, admin_key: str, bootstrap: str, group: str,
                 wait_s: float) -> None:
        self._url = catalog_url.rstrip("/")
        self._headers = {API_KEY_HEADER: admin_key}
        self._bootstrap = bootstrap
        self._group = group
        self._wait_s = wait_s
        self._committed: dict[TopicPartition, int] = {}
        self._refresh_lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._http = httpx.AsyncClient(timeout=10.0)

    async def close(self) -> None:
        await self._http.aclose()
        if self._admin is not None:
            await self._admin.close()

    async def view(self, video_id: str, topic: str, partition: int,
                   offset: int) -> dict[str, Any]:
        """The catalog's view of `video_id` once it applied `topic/partition@offset`."""
        await self._applied(TopicPartition(topic, partition), offset)
        try:
            answer = await self._http.get(f"{self._url}/api/v1/videos/{video_id}",
                                          headers=self._headers)
        except httpx.TransportError as exc:
            raise CatalogUnavailable(f"the catalog is unreachable: {exc!r}") from exc
        if answer.status_code == 404:
            # The catalog has not projected the video yet (it lags): wait it out, as an
            # outage, rather than send a webhook without its data and its owner.
            raise CatalogUnavailable(f"the catalog does not know video {video_id} yet")
        if answer.status_code >= 500 or answer.status_code in (429, 401):
            raise CatalogUnavailable(f"the catalog answered {answer.status_code}")
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def _applied(self, tp: TopicPartition, offset: int) -> None:
        deadline = time.monotonic() + self._wait_s
        while self._committed.get(tp, -1) <= offset:
            if time.monotonic() >= deadline:
                log.info("the catalog has not committed past %s@%d in %.0f s; reading its "
                         "view as it is", tp, offset, self._wait_s)
                return
            await self._refresh()
            if self._committed.get(tp, -1) <= offset:
                await asyncio.sleep(0.05)

    async def _refresh(self) -> None:
        # One request for every waiter: the ones behind the lock find it fresh.
        seen = dict(self._committed)
        async with self._refresh_lock:
            if self._committed != seen:
                return
            try:
                if self._admin is None:
                    self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                                      **client_options())
                    await self._admin.start()
                offsets = await self._admin.list_consumer_group_offsets(self._group)
            except Exception as exc:  # the wait is bounded: an error just ends it sooner
                log.warning("could not read the catalog's offsets: %r", exc)
                await asyncio.sleep(0.5)
                return
            self._committed = {tp: meta.offset for tp, meta in offsets.items()}
