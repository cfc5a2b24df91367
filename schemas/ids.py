"""Event ids: random for facts that happen once, derived for the outputs of a job.

Output events get *deterministic* ids derived from the input event and the output's
name, so a redone job (after a crash or rebalance) emits byte-identical event ids and
every consumer's dedupe-by-event-id turns the repeat into a no-op. The namespace is part
of the contract: changing it would make every redone job look new.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1d1c52-8a4e-4c53-9d5e-2b7a1f0c9e11")


def new_event_id() -> str:
    return str(uuid.uuid4())


def derived_event_id(cause_event_id: str, *parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join([cause_event_id, *map(str, parts)])))
