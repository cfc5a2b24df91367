"""Pausing the session stack's workers while a test writes synthetic events to the shared log.

Transcode and packager would act on synthetic uploads and renditions (fetch sources that do
not exist, write failures back to the log), so tests that compare what the catalog made of
*their* events pause them, then move the two groups past everything written meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from schemas import CAPTIONS_DONE, RENDITION_DONE, VIDEO_UPLOADED
from services.catalog.group_replay import Target, execute, plan
from services.ingest.ledger import TOPICS as LEDGER_TOPICS
from services.shared.settings import CommonSettings
from services.webhooks.occurrences import SOURCES as WEBHOOK_SOURCES

#: Services that react to synthetic events, and the topics their groups would react to.
#: Transcode and captions follow `video-cancelled` without a group (every partition, from
#: the beginning at each start): no offsets of theirs to move there, and a synthetic cancel
#: they re-read only marks its own synthetic video cancelled.
REACTING = {"transcode": (VIDEO_UPLOADED,),
            "packager": (RENDITION_DONE, CAPTIONS_DONE),
            "captions": (VIDEO_UPLOADED,),
            "scoring": (RENDITION_DONE,)}
#: Groups that read the synthetic events too, and would dead-letter a test's poison records
#: beside the test's own catalog (every group that cannot read a record dead-letters it), or
#: deliver webhooks for them; paused when a test names them in `also`, and moved past
#: everything written meanwhile like the reacting ones.
READING = {"ingest": LEDGER_TOPICS, "webhooks": WEBHOOK_SOURCES}


@contextlib.contextmanager
def services_paused(stack: Any, common: CommonSettings,
                    also: tuple[str, ...] = ()) -> Iterator[None]:
    """Stop the stack's transcode, captions and packager if they run; afterwards move their groups
    past everything written meanwhile (with `reelflow replay`'s own functions) and start
    them again, healthy, so later tests find them idle.

    `also` names further services to pause: the stack's own catalog, say, whose dead
    letters for a test's poison records would otherwise show up next to the test's own
    (every group that cannot read a record dead-letters it). The catalog keeps its offsets
    (it stores them in Postgres); the groups in READING are moved past like the others."""
    names = {*REACTING, *also}
    paused = [c for c in stack.apps if c.name in names and c.process.pid is not None]
    stack.stop_together(paused)
    try:
        yield
    finally:
        for component in paused:
            for topic in {**REACTING, **READING}.get(component.name, ()):
                moved = asyncio.run(plan(common, component.name, topic.name, Target("latest")))
                asyncio.run(execute(common, moved))
        # Started and healthy before the next test talks to them (an API the next test
        # calls at once must be listening, not just spawned).
        if paused:
            stack.restart(*(c.name for c in paused))
