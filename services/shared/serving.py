"""How Reelflow's HTTP APIs serve, ingest's and the catalog's alike: uvicorn with the
httptools parser, on a uvloop event loop that the rest of the process shares (the catalog's
projector, both key rings, the lag exporter).

uvicorn installs uvloop only when it owns the loop (`uvicorn.run`); a `Server.serve()`
awaited inside a plain `asyncio.run()` runs on the default loop. So every API process runs
its main coroutine through `run` here, and serves through `serve`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import uvicorn
import uvloop

log = logging.getLogger(__name__)
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a process's main coroutine to completion on a uvloop event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def server(app: Any, host: str, port: int,
           lifespan: Literal["on", "off"] = "on") -> uvicorn.Server:
    """An HTTP server for `app` (our own JSON logs, no access log: metrics time requests)."""
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, http="httptools",
                                         loop="uvloop", log_config=None, access_log=False,
                                         lifespan=lifespan))


def loop_name() -> str:
    loop = type(asyncio.get_running_loop())
    return f"{loop.__module__}.{loop.__qualname__}"


async def serve(http: uvicorn.Server) -> None:
    """Serve until the server is told to exit (a signal, or `should_exit`)."""
    config = http.config
    log.info("serving http://%s:%d on event loop %s, http %s", config.host, config.port,
             loop_name(), config.http)
    await http.serve()
