"""`DirectRoute`: a FastAPI route class for hot read routes whose requests skip FastAPI's
general per-request machinery when nothing in them needs it.

FastAPI resolves a route's parameters through `solve_dependencies` on every request: a
recursive solve per dependency (each one re-reads the query string, headers and cookies
for parameters it does not have), cache keys, a scratch `Response`, telemetry hooks and
an endpoint-context lookup. For the catalog's `GET /api/v1/videos/{id}` that was about a
quarter of the route's Python time (an in-process profile, issue 18), more than the view.

A route declared with `route_class_override=DirectRoute` whose dependencies are all
"plain" (async functions of the `Request` alone, no sub-dependencies, no `yield`), whose
own parameters are path parameters and the `Request`, and whose endpoint returns a
`Response`, is answered by calling those functions and the endpoint directly; its path
parameters are validated by FastAPI's own fields. Everything else keeps FastAPI's
handler: a route that is not plain (checked once, when the app is built), a request whose
path parameters fail validation (FastAPI's own 422 comes from its handler), and any
request while `dependency_overrides` are set. The route stays an `APIRoute`, so its
OpenAPI operation, its routing and the app's exception handlers are FastAPI's.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.routing import APIRoute
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from pydantic import BaseModel
from starlette.convertors import Convertor
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.shared.request_timer import RequestTimer

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _plain(dependency: Dependant) -> bool:
    """Whether FastAPI would call `dependency` with the request alone and nothing else."""
    return (inspect.iscoroutinefunction(dependency.call) and not dependency.dependencies
            and not (dependency.path_params or dependency.query_params
                     or dependency.header_params or dependency.cookie_params
                     or dependency.body_params)
            and not (dependency.websocket_param_name or dependency.http_connection_param_name
                     or dependency.response_param_name or dependency.background_tasks_param_name
                     or dependency.security_scopes_param_name))


def plain_calls(dependant: Dependant) -> list[tuple[str | None, Callable[..., Awaitable[Any]],
                                                    str | None]] | None:
    """(name, call, request parameter) of each of the route's dependencies, in FastAPI's
    order; or None when the route is not plain."""
    if not inspect.iscoroutinefunction(dependant.call) or not all(
            _plain(d) for d in dependant.dependencies):
        return None
    if any(isinstance(f.field_info.annotation, type)
           and issubclass(f.field_info.annotation, BaseModel) for f in dependant.path_params):
        return None  # a parameter model: FastAPI reads it field by field
    if (dependant.query_params or dependant.header_params or dependant.cookie_params
            or dependant.body_params or dependant.websocket_param_name
            or dependant.http_connection_param_name or dependant.response_param_name
            or dependant.background_tasks_param_name or dependant.security_scopes_param_name):
        return None
    calls = [(d.name, d.call, d.request_param_name) for d in dependant.dependencies]
    if len({id(call) for _, call, _ in calls}) < len(calls):
        return None  # one callable twice: FastAPI's per-request cache would share its value
    return calls  # type: ignore[return-value]


@dataclass(frozen=True)
class Built:
    """One inclusion's direct handler of a `DirectRoute`: for the app `provider`."""

    provider: Any  # the app whose dependency overrides the handler honours
    regex: re.Pattern[str]
    convertors: dict[str, Convertor[Any]]
    path: str
    handler: Handler
    route: APIRoute


class DirectRoute(APIRoute):
    """An `APIRoute` answered without FastAPI's per-request solve when it is plain."""

    #: Whether the app's handler for this route is the direct one (for tests).
    direct = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.built: list[Built] = []  # before super(): it builds the handler
        super().__init__(*args, **kwargs)

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        # An included route is built once per inclusion, with the app's and the routers'
        # dependencies added to its own: FastAPI passes that context in this variable.
        context = getattr(fastapi.routing, "_effective_route_context_var", None)
        effective = context.get() if context is not None else None
        route = effective if effective is not None and effective.original_route is self else self
        dependant: Dependant = route.dependant
        calls = plain_calls(dependant)
        if calls is None:
            return full
        endpoint = dependant.call
        assert endpoint is not None
        # Each path parameter's (name, alias, field): routing matched it, so it is there;
        # validated as FastAPI validates a present value (its field's own TypeAdapter).
        path_fields = [(f.name, f.alias, f.validate) for f in dependant.path_params]
        request_name = dependant.request_param_name
        overrides = route.dependency_overrides_provider
        self.direct = True

        async def handler(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await full(request)
            values: dict[str, Any] = {}
            for name, call, takes_request in calls:
                value = await (call(**{takes_request: request}) if takes_request else call())
                if name is not None:
                    values[name] = value
            path = request.path_params
            for name, alias, validate in path_fields:
                values[name], errors = validate(path[alias], loc=("path", alias))
                if errors:  # FastAPI's own 422, from its own handler
                    return await full(request)
            if request_name:
                values[request_name] = request
            answer = await endpoint(**values)
            if not isinstance(answer, Response):
                raise TypeError(f"{endpoint.__qualname__} is a DirectRoute: it must return "
                                "a Response (its content is not validated or encoded)")
            return answer

        # For an `ExpressLane` in front of the app this inclusion is for (its routing
        # shape: the path with the include's prefix, and its convertors).
        # (The request timer labels a request with the route's own path, as here.)
        self.built.append(Built(overrides, route.path_regex, route.param_convertors, self.path,
                                handler, self))
        return handler


#: Middleware that acts on a request only when it raises (the lane hands such a request
#: to the whole app, which answers it from scratch) or that a direct GET does not use
#: (the exit stack closes uploaded files).
_ONLY_ON_ERRORS = (ServerErrorMiddleware, ExceptionTelemetryMiddleware, ExceptionMiddleware,
                   AsyncExitStackMiddleware)


class ExpressLane:
    """An ASGI front for a FastAPI app that answers a GET to one of `routes` (plain
    `DirectRoute`s of the app) by the route's direct handler, without the app's middleware
    stack, its router and FastAPI's per-route wrapper (request context, exit stacks,
    exception wrapping): for the catalog detail, about a fifth of the process' CPU per
    request went there (py-spy, issue 18).

    What those layers do to such a request is done here: the request timer's observation
    and the CORS middleware's headers (by the app's own instances), the scope's `app`,
    `route`, `endpoint` and `path_params`. Everything else goes to the app, unchanged: a
    request of another method, path or type; any request while the app traces
    (FastAPI's telemetry), has a `root_path`, or carries middleware the lane does not know
    (checked once, when the lane is built); and a request whose handler raises before
    answering, which the app then answers from scratch (its exception handlers and error
    pages: the routes are reads, so running one twice changes nothing).

    The app must route every GET matching a route's path to that route (the owner
    includes it first); its tests compare both ways' answers."""

    def __init__(self, app: FastAPI, routes: Sequence[DirectRoute]) -> None:
        self.app = app
        self.routes = [r for r in routes if r.methods == {"GET"}]
        #: Each route's handler for this app; FastAPI builds an included route's when
        #: the app first routes a request, so until then the app answers every request.
        self.lanes: list[Built] = []
        self.timer: RequestTimer | None = None
        self.cors: CORSMiddleware | None = None
        self.on = bool(self.routes) and not app.root_path and self._knows(app)

    def _knows(self, app: FastAPI) -> bool:
        """Whether every layer of the app's middleware stack is one the lane stands in
        for (built now, as Starlette would on the first request, so both share it)."""
        telemetry = getattr(app, "_native_telemetry", None)
        if telemetry is not None and telemetry.enabled():
            return False
        if app.middleware_stack is None:
            app.middleware_stack = app.build_middleware_stack()
        layer: Any = app.middleware_stack
        while layer is not app.router:
            if isinstance(layer, RequestTimer) and self.timer is None:
                self.timer = layer
            elif isinstance(layer, CORSMiddleware) and self.cors is None:
                self.cors = layer
            elif not isinstance(layer, _ONLY_ON_ERRORS):
                return False
            layer = getattr(layer, "app", None)
            if layer is None:
                return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lanes and scope["type"] == "http" and scope["method"] == "GET" \
                and not scope.get("root_path"):
            path = scope["path"]
            for lane in self.lanes:
                match = lane.regex.match(path)
                if match is not None:
                    await self._express(lane, match, scope, receive, send)
                    return
        await self.app(scope, receive, send)
        if self.on and not self.lanes and scope["type"] == "http":
            self.lanes = [b for route in self.routes if route.direct for b in route.built
                          if b.provider is self.app]

    async def _express(self, lane: Built, match: re.Match[str], scope: Scope,
                       receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        convertors = lane.convertors
        params = {name: convertors[name].convert(value)
                  for name, value in match.groupdict().items()}
        child = {**scope, "app": self.app, "router": self.app.router, "path_params": params,
                 "route": lane.route, "endpoint": lane.route.endpoint}
        try:
            response = await lane.handler(Request(child, receive))
        except Exception:
            await self.app(scope, receive, send)  # the app's own answer, from scratch
            return
        if self.cors is not None:  # as its `simple_response`, for every non-preflight
            send = functools.partial(self.cors.send, send=send,
                                     request_headers=Headers(scope=scope))
        try:
            await response(child, receive, send)
        finally:
            if self.timer is not None:
                self.timer.observe("GET", lane.path, response.status_code,
                                   time.perf_counter() - started)
