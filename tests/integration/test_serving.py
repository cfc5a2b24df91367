"""The running ingest and catalog processes (the local stack's, each its own process) both
serve on uvloop with httptools: each says so in its log when its server starts. The
catalog once ran its server inside a plain `asyncio.run()`, on the default loop."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.slot import CATALOG_URL, INGEST_URL, TEST_STATE

pytestmark = pytest.mark.integration


def _serving_lines(component: str) -> list[dict[str, Any]]:
    lines = []
    for raw in (TEST_STATE / "logs" / f"{component}.log").read_text().splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue  # a line of some library's own, not ours
        if isinstance(entry, dict) and str(entry.get("msg", "")).startswith("serving http://"):
            lines.append(entry)
    return lines


def _healthy(address: str) -> bool:
    try:
        return httpx.get(f"{address}/health", timeout=30).status_code == 200
    except httpx.TransportError:
        return False  # not listening yet


@pytest.mark.parametrize("component, address", [("ingest", INGEST_URL),
                                                ("catalog", CATALOG_URL)])
def test_each_api_process_serves_on_uvloop_with_httptools(pipeline, component, address):
    # A process another test just restarted may still be starting (503 until it serves
    # and, for the catalog, until its projector runs): its serving line comes before that.
    deadline = time.monotonic() + 60
    while not _healthy(address):
        assert time.monotonic() < deadline, f"{component} never became healthy"
        time.sleep(0.5)
    lines = _serving_lines(component)
    assert lines, f"{component} logged no serving line"
    assert lines[-1]["msg"] == (f"serving {address} on event loop uvloop.Loop, "
                                "http httptools")
