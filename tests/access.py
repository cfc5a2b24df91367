"""The test session's API keys: the admin key the session's services are started with.

Every test that calls an HTTP API sends `admin_headers()` (or a tenant key it issued), so
write and read endpoints can require `X-API-Key`.
"""

from __future__ import annotations

import os

#: Header that carries an API key on every request.
API_KEY_HEADER = "X-API-Key"


def admin_key() -> str:
    return os.environ["REELFLOW_ADMIN_KEY"]


def admin_headers() -> dict[str, str]:
    return {API_KEY_HEADER: admin_key()}
