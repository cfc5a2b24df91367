"""Making an aiokafka producer's pending sends definite, by reaching into its internals.

aiokafka has no public way to abandon what a producer still holds: `stop()` waits for the
broker however long it is away. `retire` cancels the sender task and fails every queued
batch, through private attributes (`_sender._sender_task`, `_message_accumulator`) that
exist in the tested release only. The version check runs when this module is imported,
so a different aiokafka fails at start with a clear message, never mid-outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import version

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

#: The aiokafka release whose internals `retire` was written and tested against.
TESTED_AIOKAFKA = "0.14.0"


class UntestedAiokafka(RuntimeError):
    pass


def check_aiokafka(installed: str | None = None) -> None:
    """Refuse any aiokafka but the tested one (its private internals may differ)."""
    found = installed if installed is not None else version("aiokafka")
    if found != TESTED_AIOKAFKA:
        raise UntestedAiokafka(
            f"aiokafka {found} is installed, but Reelflow's producer retirement reaches "
            f"into aiokafka {TESTED_AIOKAFKA}'s internals; install aiokafka=={TESTED_AIOKAFKA}")


check_aiokafka()


async def retire(producer: AIOKafkaProducer) -> None:
    """Stop `producer`'s sender (aiokafka awaits the requests in flight, which either
    completed or failed to reach the broker), then fail every batch still queued: nothing
    it held can be written after this. The one case no client can settle is a broker that
    wrote a batch and died before acknowledging it."""
    task = producer._sender._sender_task
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    producer._message_accumulator.fail_all(
        KafkaTimeoutError("publish abandoned: the broker did not acknowledge in time"))
