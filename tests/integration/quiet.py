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

from schemas import CAPTIONS_DONE, RENDITION_DONE, VIDEO_CANCELLED, VIDEO_UPLOADED
from services.catalog.group_replay import Target, execute, plan
from services.shared.settings import CommonSettings

#: Services that react to synthetic events, and the topics they would react to.
REACTING = {"transcode": (VIDEO_UPLOADED, VIDEO_CANCELLED),
            "packager": (RENDITION_DONE, CAPTIONS_DONE),
            "captions": (VIDEO_UPLOADED, VIDEO_CANCELLED),
            "scoring": (RENDITION_DONE,)}


@contextlib.contextmanager
def services_paused(stack: Any, common: CommonSettings,
                    also: tuple[str, ...] = ()) -> Iterator[None]:
    """Stop the stack's transcode, captions and packager if they run; afterwards move their groups
    past everything written meanwhile (with `reelflow replay`'s own functions) and start
    them again, healthy, so later tests find them idle.

    `also` names further services to pause without moving their offsets: the stack's own
    catalog, say, whose dead letters for a test's poison records would otherwise show up
    next to the test's own (every group that cannot read a record dead-letters it)."""
    names = {*REACTING, *also}
    paused = [c for c in stack.apps if c.name in names and c.process.pid is not None]
    for component in paused:
        component.stop()
    try:
        yield
    finally:
        for component in paused:
            for topic in REACTING.get(component.name, ()):
                moved = asyncio.run(plan(common, component.name, topic.name, Target("latest")))
                asyncio.run(execute(common, moved))
            # Started and healthy before the next test talks to it (an API the next test
            # calls at once must be listening, not just spawned).
            stack.restart(component.name)
