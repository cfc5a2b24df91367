"""Whether an HTTP endpoint of a stack component answers 200 right now."""

from __future__ import annotations

import httpx


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
