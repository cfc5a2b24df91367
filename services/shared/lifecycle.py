"""A service process's lifecycle: wait for its dependencies at start-up, then run until
SIGTERM/SIGINT.

Services start in any order (a demo starts them while Kafka and Postgres still boot), so
each dependency is awaited, with growing pauses, for a bounded time: past it the process
fails with one clear error rather than looping forever.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class DependencyUnavailable(RuntimeError):
    """A dependency did not come up within the start-up patience."""


async def wait_for_dependency(what: str, where: str, attempt: Callable[[], Awaitable[T]],
                              errors: tuple[type[BaseException], ...],
                              patience_s: float) -> T:
    """Return `attempt()`'s result, retrying it on `errors` for up to `patience_s`.

    Logs one line when the dependency is not there at the first try and one when it
    answers, whatever the number of tries in between."""
    deadline = time.monotonic() + patience_s
    delay = 0.25
    waiting = False
    while True:
        try:
            result = await attempt()
        except errors as exc:
            if time.monotonic() >= deadline:
                raise DependencyUnavailable(
                    f"{what} at {where} still unavailable after {patience_s:.0f} s: {exc}"
                ) from exc
            if not waiting:
                log.info("waiting for %s at %s (up to %.0f s)", what, where, patience_s)
                waiting = True
            log.debug("%s not ready: %r", what, exc)
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
        else:
            if waiting:
                log.info("%s at %s is up", what, where)
            return result


async def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop_event)`, setting the event on SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)


def postgres_address(dsn: str) -> str:
    """host:port/dbname of a libpq DSN, for log lines (never its password)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
