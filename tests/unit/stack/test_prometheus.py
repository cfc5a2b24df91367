"""The local stack's Prometheus config: one target per service that serves /metrics (a new
service is scraped by being in the stack's list), jobs named as in compose, the rule files
compose loads, and a config promtool accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from services.shared.settings import CommonSettings
from services.stack.apps import Service, services
from services.stack.prometheus import Prometheus, ScrapeTarget, config, rule_files, targets_of
from services.stack.settings import StackSettings
from tests.tools import tool

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackSettings:
    for name, value in {"REELFLOW_CATALOG_PORT": "7000", "REELFLOW_INGEST_PORT": "7001",
                        "REELFLOW_TRANSCODE_METRICS_PORT": "7002",
                        "REELFLOW_PACKAGER_METRICS_PORT": "7003"}.items():
        monkeypatch.setenv(name, value)
    return StackSettings(common=CommonSettings(state_dir=tmp_path), transcode_workers=2,
                         prometheus_port=7090, prometheus_scrape_interval_s=5)


def test_each_service_with_a_metrics_port_is_a_target_under_its_commands_job(
        settings: StackSettings) -> None:
    targets = targets_of(services(settings))
    expected = {ScrapeTarget("catalog", "127.0.0.1:7000"), ScrapeTarget("ingest", "127.0.0.1:7001"),
                ScrapeTarget("transcode", "127.0.0.1:7002"),
                ScrapeTarget("packager", "127.0.0.1:7003")}
    assert expected <= set(targets)
    # transcode-2 runs with its metrics port at 0 (it serves none), so it is no target.
    assert all(t.address != "127.0.0.1:0" for t in targets)
    assert len(targets) == len({t.address for t in targets})


def test_a_service_added_to_the_list_is_scraped(settings: StackSettings) -> None:
    newcomer = Service("newcomer", settings, "REELFLOW_NEWCOMER_PORT", 7123)
    silent = Service("silent", settings, None, None)  # a pure consumer without /metrics
    assert targets_of([*services(settings), newcomer, silent])[-1] == ScrapeTarget(
        "newcomer", "127.0.0.1:7123")
    assert "silent" not in {t.job for t in targets_of([newcomer, silent])}


def test_the_rule_files_are_the_ones_compose_loads() -> None:
    assert rule_files() == [ROOT / "compose" / "prometheus" / "alerts.yml"]


def test_replicas_share_one_job_and_prometheus_scrapes_itself() -> None:
    targets = [ScrapeTarget("transcode", "127.0.0.1:1"), ScrapeTarget("packager", "127.0.0.1:3"),
               ScrapeTarget("transcode", "127.0.0.1:2")]
    made = config(targets, [Path("/r/alerts.yml")], "127.0.0.1:9", 7)
    assert made == {
        "global": {"scrape_interval": "7s", "evaluation_interval": "7s"},
        "rule_files": ["/r/alerts.yml"],
        "scrape_configs": [
            {"job_name": "transcode", "static_configs": [{"targets": ["127.0.0.1:1",
                                                                      "127.0.0.1:2"]}]},
            {"job_name": "packager", "static_configs": [{"targets": ["127.0.0.1:3"]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:9"]}]},
        ]}


def test_the_written_config_passes_promtool_and_lives_in_the_state_dir(
        settings: StackSettings, tmp_path: Path) -> None:
    prometheus = Prometheus(settings, services(settings))
    prometheus.data.mkdir(parents=True)
    written = prometheus._write_config()
    assert written == tmp_path.resolve() / "data" / "prometheus" / "prometheus.yml"
    checked = subprocess.run([tool("promtool", "prometheus"), "check", "config", str(written)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # promtool also checked the rule file it names: the compose one, not a copy.
    assert "alerts.yml" in checked.stdout and "SUCCESS" in checked.stdout
    loaded = yaml.safe_load(written.read_text())
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in loaded["scrape_configs"]}
    assert jobs["catalog"] == ["127.0.0.1:7000"]
    assert jobs["prometheus"] == ["127.0.0.1:7090"]
    assert loaded["global"]["scrape_interval"] == "5s"
