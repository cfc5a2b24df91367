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

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

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


class DirectRoute(APIRoute):
    """An `APIRoute` answered without FastAPI's per-request solve when it is plain."""

    #: Whether the app's handler for this route is the direct one (for tests).
    direct = False

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

        return handler
