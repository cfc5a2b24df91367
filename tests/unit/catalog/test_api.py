"""The catalog's server front (`api.front`): the video detail answered by the express lane
is the answer the whole FastAPI app gives (status, headers, body, request timing), for
every kind of detail request; everything else is the app's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.catalog import api, queries
from services.catalog.settings import CatalogSettings
from services.shared.codec import EventCodec
from services.shared.keyring import Keyring

ADMIN = "test-admin-key"
T = datetime(2026, 11, 21, 23, 40, 1, 123456, tzinfo=UTC)
KNOWN = uuid.UUID("5159b1e4-61fd-420a-a6db-507d6facc604")
BROKEN = uuid.UUID("0b5c4a3e-4f39-4c7b-9a43-9d0f3e0c1a2b")


def _video(video_id: uuid.UUID) -> dict[str, Any]:
    """A video as `queries.get_video` returns it (`SELECT *` rows), with one rendition and
    one package."""
    return {
        "video_id": video_id, "status": "ready", "attempt": 1, "title": "Café – 東京",
        "owner": "acme", "priority": 5, "user_metadata": {"tags": ["music"], "year": 2024},
        "created_at": T - timedelta(minutes=5), "updated_at": T, "completed_at": T,
        "uploaded_at": T - timedelta(minutes=4), "duration_seconds": 12.345,
        "source_size_bytes": 12_345_678, "progress": {"encode": 100}, "error_code": None,
        "latency_ms": 4200, "current_package_attempt": 1, "ready_at": T,
        "thumbnails": {"primary": f"s3://reelflow/renditions/{video_id}/thumb.jpg",
                       "images": [{"uri": "s3://reelflow/x.jpg"}]},
        "custom_thumbnail_uri": None, "source_uri": f"s3://reelflow/sources/{video_id}/o",
        "renditions": [{"rendition": "720p", "attempt": 1, "media_type": "VIDEO",
                        "uri": f"s3://reelflow/renditions/{video_id}/720p.mp4",
                        "width": 1280, "height": 720, "bitrate": 1_884_000, "vmaf": 96.73,
                        "psnr": 41.2, "ssim": 0.991, "occurred_at": T}],
        "packages": [{"attempt": 1, "current": True, "occurred_at": T,
                      "package_uri": f"s3://reelflow/packages/{video_id}/",
                      "hls_master_uri": f"s3://reelflow/packages/{video_id}/master.m3u8",
                      "renditions": [{"rendition": "720p",
                                      "playlist_uri": "s3://reelflow/p/720p.m3u8"}]}],
    }


async def _get_video(_: Any, video_id: str) -> dict[str, Any] | None:
    if video_id == str(BROKEN):
        raise RuntimeError("the read model is broken")
    return _video(uuid.UUID(video_id)) if video_id == str(KNOWN) else None


class _Pool:
    """Hands out a connection nobody uses (`queries.get_video` is replaced)."""

    def connection(self) -> Any:
        return mock.AsyncMock()


@pytest.fixture
def apps(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("REELFLOW_ADMIN_KEY", ADMIN)
    monkeypatch.setattr(queries, "get_video", _get_video)
    keyring = Keyring("127.0.0.1:1", ADMIN, mock.MagicMock(spec=EventCodec))
    keyring.caught_up.set()

    def app() -> Any:
        return api.create_app(CatalogSettings(), _Pool(),  # type: ignore[arg-type]
                              mock.MagicMock(), None, None, keyring, "api",
                              signing=mock.MagicMock(), content_keys=mock.MagicMock())

    plain, fronted = app(), app()
    yield plain, api.front(fronted)


#: (path, headers) of every kind of detail request, and a few that are not details.
REQUESTS: list[tuple[str, dict[str, str]]] = [
    (f"/api/v1/videos/{KNOWN}", {"x-api-key": ADMIN}),
    (f"/api/v1/videos/{KNOWN}", {"x-api-key": ADMIN, "origin": "https://player.example"}),
    (f"/api/v1/videos/{str(KNOWN).upper().replace('-', '')}", {"x-api-key": ADMIN}),
    (f"/api/v1/videos/{KNOWN}?x=%00", {"x-api-key": ADMIN}),  # invalid_parameter
    (f"/api/v1/videos/{KNOWN}", {}),  # missing_api_key
    (f"/api/v1/videos/{KNOWN}", {"x-api-key": "wrong"}),  # invalid_api_key
    (f"/api/v1/videos/{uuid.uuid4()}", {"x-api-key": ADMIN}),  # not_found
    ("/api/v1/videos/not-a-uuid", {"x-api-key": ADMIN}),  # invalid_request
    (f"/api/v1/videos/{BROKEN}", {"x-api-key": ADMIN}),  # a 500
    (f"/api/v1/videos/{KNOWN}/", {"x-api-key": ADMIN}),  # not this route
    ("/health/live", {}),
]


def _answers(app: Any, etag: str | None = None) -> list[tuple[int, dict[str, str], bytes]]:
    found = []
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/health/live")  # the first request the app routes builds its routes
        for path, headers in REQUESTS:
            if etag:
                headers = {**headers, "if-none-match": etag}
            r = client.get(path, headers=headers, follow_redirects=False)
            found.append((r.status_code, dict(r.headers), r.content))
    return found


def _timed(status: int) -> float:
    return REGISTRY.get_sample_value("reelflow_catalog_http_request_seconds_count", {
        "method": "GET", "route": "/api/v1/videos/{video_id}", "status": str(status)}) or 0


def test_the_lane_answers_every_detail_request_as_the_app_does(apps: tuple[Any, Any]) -> None:
    plain, fronted = apps
    assert fronted.on
    expected = _answers(plain)
    statuses = [status for status, _, _ in expected]
    assert statuses[:9] == [200, 200, 200, 422, 401, 401, 404, 422, 500]
    assert _answers(fronted) == expected
    etag = expected[0][1]["etag"]
    again = _answers(plain, etag)
    assert again[0][0] == 304
    assert _answers(fronted, etag) == again


def test_each_detail_is_timed_once_under_its_route_and_status(apps: tuple[Any, Any]) -> None:
    plain, fronted = apps
    for app in (plain, fronted):
        before = {status: _timed(status) for status in (200, 401, 404, 500)}
        _answers(app)
        assert {status: _timed(status) - before[status] for status in before} == {
            200: 3, 401: 2, 404: 1, 500: 1}


def test_the_lane_answers_the_detail_itself(apps: tuple[Any, Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Not by handing it to the app: the app's middleware stack never sees it."""
    _, fronted = apps
    seen: list[str] = []
    app = fronted.app
    stack = app.middleware_stack

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await stack(scope, receive, send)

    monkeypatch.setattr(app, "middleware_stack", watched)
    with TestClient(fronted, raise_server_exceptions=False) as client:
        detail = f"/api/v1/videos/{KNOWN}"
        # Until the app has routed a request (and so built its routes), it answers all.
        assert client.get(detail, headers={"x-api-key": ADMIN}).status_code == 200
        assert client.get(detail, headers={"x-api-key": ADMIN}).status_code == 200
        assert client.get(detail).status_code == 401
    assert seen == [detail, detail]  # the first, and the refusal: the app's own answers


def test_a_traced_app_or_unknown_middleware_keeps_every_request(
        apps: tuple[Any, Any]) -> None:
    from starlette.middleware.gzip import GZipMiddleware

    plain, _ = apps
    plain.add_middleware(GZipMiddleware)
    assert not api.front(plain).on
