"""Prometheus config, alert rules and the Grafana dashboard: valid for promtool, the alerts
fire on the series they are meant for, and every metric they query is one the code exports
(a renamed counter must not silently turn an alert into one that never fires)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools import tool

ROOT = Path(__file__).resolve().parents[3]
PROM_DIR = ROOT / "compose" / "prometheus"
GRAFANA_DIR = ROOT / "compose" / "grafana"
ALERTS = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
DASHBOARD = json.loads((GRAFANA_DIR / "dashboards" / "reelflow.json").read_text())

#: Series that exist without Reelflow code: Prometheus' own `up`, and node-exporter's
#: filesystem gauges (compose runs node-exporter for the storage alert).
EXTERNAL = {"up", "node_filesystem_avail_bytes", "node_filesystem_size_bytes"}

_DEFINITION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][\w:]*)\"")
_SUFFIXES = {
    # prometheus_client's exposition: counters gain _total (and _created), histograms and
    # summaries expose their parts.
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
             "unless", "offset", "bool", "inf", "nan"}


def exported_metrics() -> set[str]:
    """Series names the services' code exposes, from its metric definitions, and the
    figures service's gauges, which its collector builds at each scrape (asked of it with
    nothing to show, so every family appears, empty)."""
    from services.figures.export import FiguresCollector

    names: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        for kind, name in _DEFINITION.findall(path.read_text()):
            base = name.removesuffix("_total") if kind == "Counter" else name
            names.update(base + suffix for suffix in _SUFFIXES[kind])
    names.update(family.name for family in FiguresCollector(lambda: {"5m": None}).collect())
    return names


def metrics_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords, labels removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][\w:]*", text):
        following = text[match.end():].lstrip()[:1]
        word = match.group()
        if following == "(" or word.lower() in _KEYWORDS:
            continue  # a function call or an operator
        names.add(word)
    return names


def rule_expressions() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]}


def dashboard_panels() -> list[dict]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = tool("promtool", "prometheus")
    return subprocess.run([exe, *args], cwd=PROM_DIR, capture_output=True, text=True,
                          timeout=60)


def test_the_metric_scan_finds_the_known_metrics() -> None:
    exported = exported_metrics()
    assert {"reelflow_records_total", "reelflow_dead_letters_total", "reelflow_catalog_videos",
            "reelflow_catalog_http_request_seconds_bucket"} <= exported
    assert metrics_in('sum by (le) (rate(a_bucket{x="y"}[5m])) / on (j) b offset 5m') == {
        "a_bucket", "b"}


def test_promtool_accepts_the_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_their_unit_test_series() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_operational_alerts_exist() -> None:
    assert {"ReelflowHighFailureRate", "ReelflowNoTranscodeWorker", "ReelflowConsumerLagGrowing",
            "ReelflowGroupLagGrowing", "ReelflowDeadLetters", "ReelflowStorageNearlyFull",
            "ReelflowVmafBelowFloor"} <= rule_expressions().keys()
    for group in ALERTS["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


#: Issue 7's list of what /metrics must show, and the series that show it.
REQUIRED = {
    "videos by status": {"reelflow_catalog_videos"},
    "stage durations": {"reelflow_stage_seconds_bucket",
                        "reelflow_catalog_projection_batch_seconds_bucket"},
    "rendition durations": {"reelflow_rendition_encode_seconds_bucket"},
    "bytes in and out": {"reelflow_storage_bytes_total", "reelflow_ingest_bytes_total"},
    "retries": {"reelflow_retries_total"},
    "dead-letter records": {"reelflow_dead_letters_total", "reelflow_catalog_dead_lettered_total"},
    "consumer lag per group and partition": {"reelflow_consumer_lag",
                                             "reelflow_consumer_partition_lag"},
    "HTTP latency per route": {"reelflow_catalog_http_request_seconds_bucket",
                               "reelflow_ingest_http_request_seconds_bucket"},
    "VMAF per rendition": {"reelflow_rendition_vmaf_bucket",
                           "reelflow_rendition_below_floor_total"},
}


@pytest.mark.parametrize("what", sorted(REQUIRED))
def test_the_issue_metrics_are_exported(what: str) -> None:
    missing = REQUIRED[what] - exported_metrics()
    assert not missing, f"{what}: nobody exports {sorted(missing)}"


def test_every_metric_the_rules_query_is_exported() -> None:
    known = exported_metrics() | EXTERNAL
    for alert, expr in rule_expressions().items():
        missing = metrics_in(expr) - known
        assert not missing, f"{alert} queries metrics nobody exports: {sorted(missing)}"


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    known = exported_metrics() | EXTERNAL
    queried = 0
    for panel in dashboard_panels():
        for target in panel["targets"]:
            if "expr" in target:
                queried += 1
                missing = metrics_in(target["expr"]) - known
                assert not missing, f"panel {panel['title']!r} queries {sorted(missing)}"
    assert queried >= 10


def test_quality_panels_query_real_catalog_columns() -> None:
    migrations = "\n".join(p.read_text() for p in
                           sorted((ROOT / "services/catalog/migrations").glob("*.sql")))
    table = re.search(r"CREATE TABLE renditions \((.*?)\n\);", migrations, re.S)
    assert table is not None
    columns = set(re.findall(r"^\s+(\w+)\s", table.group(1), re.M))
    sql_targets = [t["rawSql"] for p in dashboard_panels() for t in p["targets"]
                   if "rawSql" in t]
    assert sql_targets
    for sql in sql_targets:
        assert "FROM renditions" in sql
        selected = re.search(r"SELECT (.*?) FROM", sql).group(1)  # type: ignore[union-attr]
        used = {c.strip().split()[0] for c in selected.split(",")}
        assert used <= columns, f"not renditions columns: {sorted(used - columns)}"


def test_dashboard_covers_overview_lag_latency_and_quality() -> None:
    rows = {p["title"] for p in DASHBOARD["panels"] if p["type"] == "row"}
    assert rows == {"Pipeline overview", "Consumer lag", "API latency", "Quality"}
    provisioned = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "reelflow.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] in uids, panel["title"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
