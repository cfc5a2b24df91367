"""The console's two actions, each the same logic the operator tools call, in-process:

- redrive one dead letter: `shared.dead_letter_log`'s read and redrive (the original key
  and bytes to the original topic and partition, with the redrive provenance headers);
- replay a group to a point in time: `catalog.group_replay`'s plan (the dry run) and execute,
  which refuses while the group has live members.

Both act as the operator tools' Kafka principal (`CatalogSettings.console_operator`), as
`reelflow dlq` and `reelflow replay` do.

Failures are `ActionRefused` with a code and a sentence that name no server path.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiokafka.errors import KafkaError

from services.catalog import group_replay as replay
from services.catalog.queries import Conn
from services.catalog.settings import CatalogSettings
from services.shared import dead_letter_log as dlq
from services.shared.kafka_security import acting_as
from services.shared.settings import CommonSettings


class ActionRefused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _as_operator(settings: CatalogSettings) -> contextlib.AbstractContextManager[None]:
    operator = settings.console_operator
    return contextlib.nullcontext() if operator is None else acting_as(operator)


async def redrive(settings: CatalogSettings, conn: Conn, dead_letter_id: str
                  ) -> dict[str, Any]:
    common = settings.common
    cur = await conn.execute("SELECT dead_letter_partition, dead_letter_offset FROM dead_letters"
                             " WHERE id = %s", (dead_letter_id,))
    row = await cur.fetchone()
    if row is None:
        raise ActionRefused(404, "not_found", f"dead letter {dead_letter_id}")
    try:
        with _as_operator(settings):
            letter = await dlq.read_dead_letter(common.kafka_bootstrap, row[0], row[1])
            [done] = await dlq.redrive(common.kafka_bootstrap, [letter])
    except LookupError as exc:
        raise ActionRefused(410, "dead_letter_gone", str(exc)) from None
    except ValueError as exc:
        raise ActionRefused(422, "dead_letter_unreadable", str(exc)) from None
    except KafkaError as exc:
        raise ActionRefused(503, "kafka_unavailable", type(exc).__name__) from None
    return {"dead_letter_id": dead_letter_id, "record": letter.id, "topic": done.topic,
            "partition": done.partition, "offset": done.offset}


async def replay_to(settings: CatalogSettings, group: str, topic: str, when: datetime,
                    execute: bool) -> dict[str, Any]:
    """The plan of moving `group` on `topic` to the first record at or after `when`; with
    `execute`, also applied (refused with 409 `group_active` while it has live members)."""
    with _as_operator(settings):
        return await _replay_to(settings.common, group, topic, when, execute)


async def _replay_to(common: CommonSettings, group: str, topic: str, when: datetime,
                     execute: bool) -> dict[str, Any]:
    try:
        plan = await replay.plan(common, group, topic, replay.Target("datetime", when))
    except LookupError as exc:
        raise ActionRefused(404, "not_found", str(exc)) from None
    except KafkaError as exc:
        raise ActionRefused(503, "kafka_unavailable", type(exc).__name__) from None
    answer = {"group": plan.group, "topic": topic, "to_datetime": when.isoformat(),
              "store": plan.store, "live_members": plan.live_members,
              "moves": [asdict(m) for m in plan.moves], "executed": False}
    if not execute:
        return answer
    if plan.live_members:
        raise ActionRefused(409, "group_active", f"group {group!r} has {plan.live_members} "
                            "live member(s); stop them first")
    try:
        await replay.execute(common, plan)
    except replay.GroupActive:
        raise ActionRefused(409, "group_active",
                            f"group {group!r} gained live members; stop them first") from None
    return {**answer, "executed": True}
