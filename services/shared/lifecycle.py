"""A service process's lifecycle: wait for its dependencies at start-up, then run until
SIGTERM/SIGINT.

Services start in any order (a demo starts them while Kafka and Postgres still boot), so
each dependency is awaited, with growing pauses, for a bounded time: past it the process
fails with one clear error rather than looping forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from aiokafka.errors import KafkaError

from services.shared.retry import RetryPolicy, Tries, decide

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The loggers aiokafka reports refused connections on ("Unable connect to ...").
AIOKAFKA_LOGGERS = ("aiokafka", "aiokafka.conn")


class DependencyUnavailable(RuntimeError):
    """A dependency did not come up within the start-up patience."""


async def wait_for_dependency(what: str, where: str, attempt: Callable[[], Awaitable[T]],
                              errors: tuple[type[BaseException], ...],
                              patience_s: float, hush: tuple[str, ...] = ()) -> T:
    """Return `attempt()`'s result, retrying it on `errors` for up to `patience_s`.

    Logs one line when the dependency is not there at the first try and one when it
    answers, whatever the number of tries in between. What the `hush` loggers say while
    waiting is only logged at DEBUG (a client library's line per refused connection)."""
    with hushed(hush):
        return await _wait(what, where, attempt, errors, patience_s)


async def wait_for_kafka(where: str, attempt: Callable[[], Awaitable[T]],
                         patience_s: float) -> T:
    """`wait_for_dependency` for a Kafka client's start, without aiokafka's ERROR line
    per refused connection (a newcomer's first screen while the broker boots)."""
    return await wait_for_dependency("Kafka", where, attempt, (KafkaError, OSError),
                                     patience_s, hush=AIOKAFKA_LOGGERS)


async def _wait(what: str, where: str, attempt: Callable[[], Awaitable[T]],
                errors: tuple[type[BaseException], ...], patience_s: float) -> T:
    deadline = time.monotonic() + patience_s
    # Quick first tries (a dependency that is nearly up), then every 2 s until the deadline.
    policy = RetryPolicy(max_attempts=None, backoff_base_s=0.25, backoff_max_s=2.0,
                         transient=errors)
    tries, waiting = Tries(), False
    while True:
        try:
            result = await attempt()
        except errors as exc:
            decision = decide(policy, tries, exc)
            tries = decision.tries
            if time.monotonic() >= deadline:
                raise DependencyUnavailable(
                    f"{what} at {where} still unavailable after {patience_s:.0f} s: {exc}"
                ) from exc
            if not waiting:
                log.info("waiting for %s at %s (up to %.0f s)", what, where, patience_s)
                waiting = True
            log.debug("%s not ready: %r", what, exc)
            await asyncio.sleep(min(decision.delay_s, max(0.0, deadline - time.monotonic())))
        else:
            if waiting:
                log.info("%s at %s is up", what, where)
            return result


class _Demoted(logging.Filter):
    """Passes a record on at DEBUG, under this module's logger, instead of as it came."""

    def filter(self, record: logging.LogRecord) -> bool:
        log.debug("(while waiting) %s: %s", record.name, record.getMessage())
        return False


@contextlib.contextmanager
def hushed(names: tuple[str, ...]) -> Iterator[None]:
    """While inside, what the `names` loggers say goes to DEBUG only."""
    # Filters on the loggers themselves: they see only records logged to exactly that
    # logger, so a library's other loggers (and everything after the wait) are untouched.
    loggers = [logging.getLogger(n) for n in names]
    demoted = _Demoted()
    for logger in loggers:
        logger.addFilter(demoted)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(demoted)


async def run_together(jobs: Mapping[str, Coroutine[Any, Any, Any]], stop: asyncio.Event,
                       on_stop: Callable[[], None] = lambda: None) -> None:
    """Run `jobs` until `stop` is set or any of them ends; then set `stop` (and call
    `on_stop`, for a job that watches something else), let every job end, and raise the
    first failure. One process's parts live and die together: a projector that crashed
    must not leave its API answering from a model nobody updates."""
    tasks = [asyncio.create_task(job, name=name) for name, job in jobs.items()]
    tasks.append(asyncio.create_task(stop.wait(), name="stop"))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.exception() is not None:
                log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())
    finally:
        stop.set()
        on_stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)
                and not isinstance(r, asyncio.CancelledError)]
    if failures:
        raise failures[0]


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


class WorkerSettings(Protocol):
    """What every worker process's settings have: the shared ones and a metrics port."""

    @property
    def common(self) -> Any: ...
    @property
    def metrics_port(self) -> int: ...
    @property
    def metrics_host(self) -> str: ...


def run_worker(name: str, settings: WorkerSettings,
               serve: Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]], *,
               nice: int = 0) -> int:
    """The one shell of a worker process (`reelflow transcode`, `packager`, `scoring`,
    `chunks`, `captions`, `router`): its niceness (a worker off the playback path yields
    the CPU; its ffmpeg children inherit it), logging and tracing, /metrics when a port is
    set, then `serve` until SIGTERM/SIGINT."""
    from prometheus_client import start_http_server

    from services.shared import telemetry

    if nice:
        os.nice(nice)

    telemetry.configure(name, settings.common.log_level, settings.common.otel_exporter)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    asyncio.run(run_until_signalled(lambda stop: serve(settings, stop)))
    return 0
