"""`DirectRoute` answers a plain route as FastAPI would (values, refusals, exception
handlers, OpenAPI), and leaves everything that is not plain to FastAPI's own handler."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from services.shared.direct_route import DirectRoute

calls: list[str] = []


class Refused(Exception):
    pass


async def _checked(request: Request) -> None:
    calls.append("checked")
    if request.headers.get("x-refuse"):
        raise Refused()


async def _who(request: Request) -> str:
    calls.append("who")
    return request.headers.get("x-who", "nobody")


Who = Annotated[str, Depends(_who)]


async def item(item_id: uuid.UUID, request: Request, who: Who) -> Any:
    return JSONResponse({"item": str(item_id), "who": who, "path": request.url.path})


async def search(item_id: uuid.UUID, who: Who, q: str = "") -> Any:
    return JSONResponse({"item": str(item_id), "who": who, "q": q})


def _app(route_class: type | None) -> tuple[FastAPI, APIRouter]:
    router = APIRouter(prefix="/items")
    extra: dict[str, Any] = {"route_class_override": route_class} if route_class else {}
    router.add_api_route("/{item_id}", item, methods=["GET"], **extra)
    router.add_api_route("/{item_id}/search", search, methods=["GET"], **extra)
    app = FastAPI(dependencies=[Depends(_checked)])

    @app.exception_handler(Refused)
    async def refused(_: Request, __: Refused) -> JSONResponse:
        return JSONResponse({"error": "refused"}, status_code=403)

    app.include_router(router)
    return app, router


def _answers(app: FastAPI) -> list[tuple[int, Any]]:
    item_id = uuid.UUID("5159b1e4-61fd-420a-a6db-507d6facc604")
    with TestClient(app) as client:
        return [(r.status_code, r.json()) for r in (
            client.get(f"/items/{item_id}", headers={"x-who": "ana"}),
            client.get(f"/items/{str(item_id).replace('-', '').upper()}"),  # pydantic's lax UUID
            client.get("/items/not-a-uuid"),
            client.get(f"/items/{item_id}", headers={"x-refuse": "1"}),
            client.get("/items/not-a-uuid", headers={"x-refuse": "1"}),
            client.get(f"/items/{item_id}/search?q=x", headers={"x-who": "bo"}),
        )]


def test_a_plain_route_answers_as_fastapi_does() -> None:
    direct, router = _app(DirectRoute)
    plain, _ = _app(None)
    got, expected = _answers(direct), _answers(plain)
    assert [status for status, _ in got] == [200, 200, 422, 403, 403, 200]
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert got == expected
    assert direct.openapi() == plain.openapi()
    routes = {route.path: route for route in router.routes}
    assert getattr(routes["/items/{item_id}"], "direct", False)
    assert not getattr(routes["/items/{item_id}/search"], "direct", False)  # a query param


def test_dependencies_run_in_fastapis_order_once_each() -> None:
    app, _ = _app(DirectRoute)
    with TestClient(app) as client:
        calls.clear()
        assert client.get(f"/items/{uuid.uuid4()}").status_code == 200
    assert calls == ["checked", "who"]


def test_dependency_overrides_go_through_fastapi() -> None:
    app, _ = _app(DirectRoute)

    async def someone() -> str:
        return "override"

    app.dependency_overrides[_who] = someone
    with TestClient(app) as client:
        assert client.get(f"/items/{uuid.uuid4()}").json()["who"] == "override"


def test_the_catalog_detail_is_direct() -> None:
    """A FastAPI upgrade that changes how included routes are built would silently put the
    detail back on the general path: this notices."""
    from services.catalog.routes import videos
    from services.shared import http_errors

    app = FastAPI(dependencies=[Depends(http_errors.plain_parameters)])
    app.include_router(videos.router)
    app.openapi()
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get(f"/api/v1/videos/{uuid.uuid4()}")  # no state (500), but routed
    detail = next(r for r in videos.router.routes
                  if getattr(r, "path", "") == "/api/v1/videos/{video_id}")
    assert isinstance(detail, DirectRoute) and detail.direct
