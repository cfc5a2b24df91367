"""Small facts about events that every service needs: ids and clocks.

The id rules are part of the contract and live in `schemas.ids`; they are re-exported
here for the services that import them from their old place.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.ids import derived_event_id, new_event_id

__all__ = ["derived_event_id", "millis", "new_event_id", "now"]


def now() -> datetime:
    return datetime.now(UTC)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
