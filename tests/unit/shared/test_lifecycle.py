import asyncio
import logging

import pytest

from services.shared.lifecycle import (
    DependencyUnavailable,
    postgres_address,
    wait_for_dependency,
)


def test_a_dependency_that_comes_up_is_waited_for_with_one_line_each_way(
        caplog: pytest.LogCaptureFixture) -> None:
    tries = []

    async def attempt() -> str:
        tries.append(1)
        if len(tries) < 4:
            raise ConnectionRefusedError("refused")
        return "up"

    with caplog.at_level(logging.INFO, logger="services.shared.lifecycle"):
        result = asyncio.run(wait_for_dependency("Kafka", "127.0.0.1:1", attempt,
                                                 (OSError,), 30))
    assert result == "up" and len(tries) == 4
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == ["waiting for Kafka at 127.0.0.1:1 (up to 30 s)", "Kafka at 127.0.0.1:1 is up"]


def test_a_dependency_that_never_comes_up_fails_after_the_patience() -> None:
    async def attempt() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(DependencyUnavailable, match="Postgres at db:5432/x still unavailable"):
        asyncio.run(wait_for_dependency("Postgres", "db:5432/x", attempt, (OSError,), 0.6))


def test_other_errors_are_not_waited_out() -> None:
    async def attempt() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        asyncio.run(wait_for_dependency("Kafka", "k:1", attempt, (OSError,), 30))


def test_postgres_address_names_no_password() -> None:
    where = postgres_address("host=db port=5433 dbname=reelflow user=u password=secret")
    assert where == "db:5433/reelflow"


def test_run_together_stops_every_part_when_one_fails_and_raises_its_error() -> None:
    from services.shared.lifecycle import run_together

    ended: list[str] = []
    watched: list[str] = []

    async def follower(stop: asyncio.Event) -> None:
        await stop.wait()
        ended.append("follower")

    async def crasher() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("projector crashed")

    async def main() -> None:
        stop = asyncio.Event()
        await run_together({"keyring": follower(stop), "projector": crasher()}, stop,
                           on_stop=lambda: watched.append("http told to exit"))

    with pytest.raises(RuntimeError, match="projector crashed"):
        asyncio.run(main())
    assert ended == ["follower"] and watched == ["http told to exit"]


def test_run_together_ends_cleanly_when_stop_is_set() -> None:
    from services.shared.lifecycle import run_together

    told: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def server() -> None:
            while not told:  # like uvicorn: exits once should_exit is set
                await asyncio.sleep(0.01)

        asyncio.get_running_loop().call_later(0.05, stop.set)
        await run_together({"http": server()}, stop, on_stop=lambda: told.append("exit"))

    asyncio.run(main())
    assert told == ["exit"]
