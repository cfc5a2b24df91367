"""From a pipeline event to deliveries: the dispatcher's consume-loop handler.

Per source event: which webhook it is (`occurrences`), whether any endpoint hears of its
type at all (else nothing is read or written), the catalog's view of the video (whose
owner decides which tenants' endpoints hear of it), the body, and one delivery per
endpoint, enqueued in Postgres in one transaction. Reading the event again (a crash before
the commit, a rebalance) enqueues nothing twice: a live delivery is unique per endpoint
and webhook id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.shared.consume import Delivery, PermanentFailure
from services.webhooks.catalog_views import CatalogViews
from services.webhooks.directory import Directory
from services.webhooks.occurrences import Occurrence, occurrence
from services.webhooks.payloads import body
from services.webhooks.store import DeliveryStore, Queued

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, directory: Directory, views: CatalogViews, store: DeliveryStore,
                 wake: Callable[[], None]) -> None:
        self.directory = directory
        self.views = views
        self.store = store
        self.wake = wake

    async def handle(self, delivery: Delivery) -> None:
        found = occurrence(delivery.topic.name, delivery.event)
        if found is None:
            return
        if found.step is not None and not await self.store.first_of_step(found.step,
                                                                         found.message_id):
            return  # this stage step's webhook was another progress event
        if not any(e.hears(found.type, e.owner) for e in self.directory.table.active()):
            return  # nobody listens for this type: no catalog read, no rows
        record = delivery.record
        view = await self.views.view(found.video_id, record.topic, record.partition,
                                     record.offset)
        queued = queue(found, body(found, view))
        owner = (view or {}).get("owner")
        targets = [e.endpoint_id for e in self.directory.table.active()
                   if e.hears(found.type, owner)]
        if await self.store.enqueue(queued, targets, "live"):
            self.wake()

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        log.error("no webhooks for %s: %s", delivery.topic.name, error.message)


def queue(found: Occurrence, payload: str) -> Queued:
    return Queued(found.message_id, found.type, found.video_id, found.occurred_at, payload)
