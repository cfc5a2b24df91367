"""`RequestTimer` times each request under its route's path and answered status, and leaves
a streamed request body to the app untouched."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram

from services.shared.request_timer import RequestTimer


def _app() -> tuple[FastAPI, CollectorRegistry]:
    registry = CollectorRegistry()
    seconds = Histogram("t_http_seconds", "test", ["method", "route", "status"],
                        registry=registry)
    app = FastAPI()

    @app.post("/items/{item_id}", status_code=201)
    async def create(item_id: str, request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"bytes": size}

    app.add_middleware(RequestTimer, histogram=seconds)
    return app, registry


def test_each_request_is_timed_under_its_route_and_status() -> None:
    app, registry = _app()
    with TestClient(app) as client:
        body = b"x" * 300_000
        answer = client.post("/items/7", content=iter([body[:100_000], body[100_000:]]))
        assert answer.status_code == 201 and answer.json() == {"bytes": 300_000}
        assert client.get("/nowhere").status_code == 404
    count = "t_http_seconds_count"
    assert registry.get_sample_value(
        count, {"method": "POST", "route": "/items/{item_id}", "status": "201"}) == 1
    assert registry.get_sample_value(
        count, {"method": "GET", "route": "unmatched", "status": "404"}) == 1
