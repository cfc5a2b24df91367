"""The consume loop's Kafka client is closed whatever happens to the loop: a loop told to
stop before it ran has none, and one whose broker never answered closes its own."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas import VIDEO_UPLOADED
from services.shared.consume import ConsumeLoop, LoopSettings


def refused_address() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def unclosed_clients(scenario: Any) -> list[str]:
    """What aiokafka reported unclosed, as a warning or to the loop, after `scenario`."""
    reported: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(str(context.get("message"))))
        await scenario()
        gc.collect()  # aiokafka reports an unclosed client when it is collected

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
    return [m for m in reported + [str(w.message) for w in caught] if "Unclosed" in m]


def loop_at(bootstrap: str) -> ConsumeLoop:
    nothing = cast(Any, None)  # neither the codec, the producer nor a handler is reached
    return ConsumeLoop(LoopSettings("test-consume", (VIDEO_UPLOADED,)), bootstrap,
                       nothing, nothing, nothing)


def test_a_loop_that_never_ran_leaves_no_unclosed_client() -> None:
    async def scenario() -> None:
        loop_at(refused_address())

    assert unclosed_clients(scenario) == []


def test_a_loop_whose_broker_never_answers_closes_its_client() -> None:
    async def scenario() -> None:
        with pytest.raises(KafkaConnectionError):
            await loop_at(refused_address()).run()

    assert unclosed_clients(scenario) == []
