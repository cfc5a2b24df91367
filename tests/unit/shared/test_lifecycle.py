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
