"""Both APIs serve through `services.shared.serving`: the process's loop is uvloop's, and
the HTTP parser is httptools (uvicorn would pick h11 or asyncio when asked for `auto` and
the library is missing; here it is asked for by name, so a missing one fails)."""

import asyncio

import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.shared import serving


async def _running_loop() -> type:
    return type(asyncio.get_running_loop())


def test_the_main_coroutine_runs_on_a_uvloop_event_loop():
    assert serving.run(_running_loop()) is uvloop.Loop


def test_the_loop_is_named_in_the_serving_log_line():
    async def name() -> str:
        return serving.loop_name()

    assert serving.run(name()) == "uvloop.Loop"


def test_the_server_parses_http_with_httptools():
    config = serving.server(object(), "127.0.0.1", 0).config
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert (config.lifespan, config.access_log, config.log_config) == ("on", False, None)
