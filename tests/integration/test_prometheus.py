"""Prometheus in the local stack: `up` starts it with the services, it scrapes every
service's /metrics (each target `up`), it has loaded every rule group of
compose/prometheus/alerts.yml, it listens on loopback only with its data, config and log
in the state dir, `stack status` lists it, and `stack down` stops it.

The oracles are Prometheus's own HTTP API and the operating system, and the expected values
come from the slot's settings (tests/slot.py) and from alerts.yml itself, not from
services/stack/prometheus.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.shared.settings import CommonSettings
from services.stack import LocalStack, StackSettings
from tests.integration.test_stack import listening_sockets, port_in_use, process_tree
from tests.polling import wait_until
from tests.ports import free_port
from tests.slot import ROOT, TEST_ENV, TEST_STATE

pytestmark = pytest.mark.integration

ALERTS = ROOT / "compose" / "prometheus" / "alerts.yml"
PORT = int(TEST_ENV["REELFLOW_STACK_PROMETHEUS_PORT"])
URL = f"http://127.0.0.1:{PORT}"
#: Job and /metrics port of each service the session's stack runs (the slot's settings),
#: and Prometheus's own.
EXPECTED_TARGETS = {
    ("catalog", int(TEST_ENV["REELFLOW_CATALOG_PORT"])),
    ("ingest", int(TEST_ENV["REELFLOW_INGEST_PORT"])),
    ("transcode", int(TEST_ENV["REELFLOW_TRANSCODE_METRICS_PORT"])),
    ("packager", int(TEST_ENV["REELFLOW_PACKAGER_METRICS_PORT"])),
    ("captions", int(TEST_ENV["REELFLOW_CAPTIONS_METRICS_PORT"])),
    ("prometheus", PORT),
}


def api(path: str, params: dict[str, str] | None = None) -> Any:
    reply = httpx.get(URL + path, params=params, timeout=10)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return body["data"]


def test_every_service_is_scraped_and_every_target_is_up(pipeline: LocalStack) -> None:
    last: list[dict[str, Any]] = []

    def all_up() -> bool:
        last[:] = api("/api/v1/targets?state=active")["activeTargets"]
        return bool(last) and all(t["health"] == "up" for t in last)

    # A target is first scraped within one scrape interval (15 s) of Prometheus starting.
    deadline = time.monotonic() + 90
    while not all_up():
        assert time.monotonic() < deadline, [
            (t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"]) for t in last]
        time.sleep(1)
    scraped = {(t["labels"]["job"], t["labels"]["instance"]) for t in last}
    assert {(job, f"127.0.0.1:{port}") for job, port in EXPECTED_TARGETS} <= scraped
    assert all(t["scrapeUrl"].endswith("/metrics") and not t["lastError"] for t in last)
    # Each service's own samples arrived, not only the series Prometheus makes up itself.
    for job, _ in EXPECTED_TARGETS:
        own = api("/api/v1/series", params={"match[]": f'{{job="{job}",__name__!~"up|scrape_.+"}}'})
        assert own, f"no samples of {job}'s own"


def test_every_rule_group_of_the_compose_alerts_is_loaded(pipeline: LocalStack) -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    expected = {g["name"]: sorted(r.get("alert") or r["record"] for r in g["rules"])
                for g in groups}
    loaded = api("/api/v1/rules")["groups"]
    assert {g["name"]: sorted(r["name"] for r in g["rules"]) for g in loaded} == expected
    # Read from compose/, not from a copy that could drift from what promtool tests.
    assert {Path(g["file"]) for g in loaded} == {ALERTS}
    assert all(r["health"] != "err" for g in loaded for r in g["rules"]), loaded


def test_it_listens_on_loopback_and_keeps_config_data_and_log_in_the_state_dir(
        pipeline: LocalStack) -> None:
    state = TEST_STATE.resolve()
    row = {r.name: r for r in pipeline.status()}["prometheus"]
    assert (row.state, row.address) == ("healthy", URL), row
    assert row.log == str(state / "logs" / "prometheus.log")
    assert "Server is ready to receive web requests" in Path(row.log).read_text()

    flags = api("/api/v1/status/flags")
    assert flags["web.listen-address"] == f"127.0.0.1:{PORT}"
    assert Path(flags["config.file"]) == state / "data" / "prometheus" / "prometheus.yml"
    tsdb = Path(flags["storage.tsdb.path"])
    assert tsdb == state / "data" / "prometheus" / "tsdb"
    assert (tsdb / "wal").is_dir()
    assert row.pid is not None
    assert listening_sockets(process_tree(row.pid)) == {("127.0.0.1", PORT)}


def test_stack_status_lists_prometheus(pipeline: LocalStack) -> None:
    # The command a user types, in the session's environment.
    shown = subprocess.run([sys.executable, "-m", "services.cli", "stack", "status"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env={**os.environ, "COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    line = next(ln for ln in shown.stdout.splitlines() if " prometheus " in ln)
    assert "healthy" in line and URL in line, shown.stdout


@pytest.fixture
def own_stack() -> Iterator[LocalStack]:
    """A stack of its own (short path: Unix sockets), of which only Prometheus is started."""
    state = Path(tempfile.mkdtemp(prefix="rf-prom-"))
    stack = LocalStack(StackSettings(common=CommonSettings(state_dir=state),
                                     prometheus_port=free_port()))
    try:
        yield stack
    finally:
        stack.prometheus.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_stack_down_stops_prometheus(own_stack: LocalStack) -> None:
    prometheus = own_stack.prometheus
    prometheus.start()
    wait_until(prometheus.healthy, "the second Prometheus to be ready", timeout=60)
    pid = prometheus.process.pid
    assert pid is not None
    tree = process_tree(pid)

    own_stack.down()

    assert prometheus.process.pid is None
    assert not process_tree(pid) and not any(process_tree(p) for p in tree)
    assert not port_in_use(own_stack.settings.prometheus_port)
    assert {r.name: r.state for r in own_stack.status()}["prometheus"] == "stopped"
