"""How Reelflow's HTTP APIs serve, ingest's and the catalog's alike: uvicorn with the
httptools parser, on a uvloop event loop that the rest of the process shares (the catalog's
projector, both key rings, the lag exporter).

uvicorn installs uvloop only when it owns the loop (`uvicorn.run`); a `Server.serve()`
awaited inside a plain `asyncio.run()` runs on the default loop. So every API process runs
its main coroutine through `run` here, and serves through `serve`.

Scaling out on one host: `serve(..., reuse_port=True)` binds with `SO_REUSEPORT`, so
several processes can listen on the same address and the kernel spreads new connections
between them (the catalog's `REELFLOW_CATALOG_REUSE_PORT`). Off by default, so a second
process on a taken port still fails loudly instead of silently sharing it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
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


def reusable_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket other processes may bind too (`SO_REUSEPORT`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve(http: uvicorn.Server, reuse_port: bool = False) -> None:
    """Serve until the server is told to exit (a signal, or `should_exit`)."""
    config = http.config
    log.info("serving http://%s:%d on event loop %s, http %s%s", config.host, config.port,
             loop_name(), config.http, " (SO_REUSEPORT)" if reuse_port else "")
    if reuse_port:
        await http.serve(sockets=[reusable_socket(config.host, config.port)])
    else:
        await http.serve()
