"""The catalog API's limit on this machine, for `benchmarks.api` to measure beside it:
`python -m benchmarks.api_limit --port N` (Postgres from `REELFLOW_PG_DSN`).

A framework-free ASGI app on the same server stack the catalog uses (uvicorn, httptools,
uvloop: `services.shared.serving`) that answers `GET /api/v1/videos/{id}` with the same
work minus the framework: the admin key checked against its SHA-256 (as the keyring
does), the same three SELECTs in one psycopg pipeline (`queries.get_video`) from a pool
like the catalog's (autocommit), the same answer (`views.video_detail`, rendered by the
catalog's own encoders: orjson where it writes the stdlib's bytes), with its start-up heap
frozen out of the collector's sight as the catalog's is (`gc.freeze()`). No routing table,
dependency injection, validation, middleware or OpenAPI: what is left is what any server
must do for this answer. `SO_REUSEPORT`, so several of them can share a port like the
catalog's processes.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import uuid
from typing import Any

import orjson
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from services.catalog import queries, views
from services.catalog.rendering import render, render_finite
from services.shared import serving
from services.shared.settings import CommonSettings

_PREFIX = "/api/v1/videos/"


async def _configure(conn: Any) -> None:
    set_json_loads(orjson.loads, conn)  # as the catalog's pool does


class LimitApp:
    def __init__(self, dsn: str, admin_key: str, bucket: str, pool_size: int) -> None:
        self.pool = AsyncConnectionPool(dsn, min_size=1, max_size=pool_size, open=False,
                                        kwargs={"autocommit": True}, configure=_configure)
        self.admin = hashlib.sha256(admin_key.encode()).hexdigest()
        self.links = views.MediaLinks(bucket)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.pool.open(wait=True)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        status, body = await self._answer(scope)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: dict[str, Any]) -> tuple[int, bytes]:
        path: str = scope["path"]
        if path == "/health":
            return 200, b'{"status":"ok"}'
        if scope["method"] != "GET" or not path.startswith(_PREFIX):
            return 404, b'{"error":"not_found"}'
        key = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
        if key is None or hashlib.sha256(key).hexdigest() != self.admin:
            return 401, b'{"error":"invalid_api_key"}'
        try:
            video_id = str(uuid.UUID(path[len(_PREFIX):]))
        except ValueError:
            return 422, b'{"error":"invalid_request"}'
        async with self.pool.connection() as conn:
            video = await queries.get_video(conn, video_id)
        if video is None:
            return 404, b'{"error":"not_found"}'
        detail = views.video_detail(video, self.links)
        return 200, render_finite(detail) if views.finite_columns(video) else render(detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_limit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=10, help="as the catalog's default")
    args = parser.parse_args(argv)
    common = CommonSettings()
    app = LimitApp(common.pg_dsn, common.admin_key, common.s3_bucket,
                   args.pool_size)
    # As the catalog does once it is built: without it the collector's walks of the
    # start-up heap were 6 % of this server's samples (py-spy, issue 18).
    gc.freeze()
    http = serving.server(app, "127.0.0.1", args.port)
    serving.run(serving.serve(http, reuse_port=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
