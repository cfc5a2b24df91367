"""compose/docker-compose.yml agrees with the code: no Docker engine runs here, so the file
is parsed and checked against the settings classes the services actually read."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.catalog.settings import CatalogSettings
from services.ingest.settings import IngestSettings
from services.packager.settings import PackagerSettings
from services.router.settings import RouterSettings
from services.scoring.settings import ScoringSettings
from services.shared.settings import CommonSettings
from services.stack.settings import KAFKA_POM, StackSettings
from services.transcode.settings import TranscodeSettings
from services.webhooks.settings import WebhooksSettings

COMPOSE_DIR = Path(__file__).resolve().parents[3] / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())

SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings, "transcode": TranscodeSettings,
    "packager": PackagerSettings, "catalog": CatalogSettings, "webhooks": WebhooksSettings,
    "scoring": ScoringSettings,
    "router": RouterSettings,
}
#: The services that serve Prometheus metrics, and the setting naming the port.
METRICS_PORT_FIELD = {"catalog": "port", "transcode": "metrics_port", "packager": "metrics_port",
                      "webhooks": "port", "scoring": "metrics_port", "router": "metrics_port"}


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Environment variables a settings class reads: its prefix + each field, except the
    nested `common`, which CommonSettings reads under its own REELFLOW_ prefix."""
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields if name != "common"}


READ_BY_CODE = set().union(*(env_names(c) for c in (CommonSettings, StackSettings,
                                                    *SETTINGS.values())))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def setting(service: str, field: str) -> Any:
    """The value a service's settings would take inside its container."""
    cls = SETTINGS[service]
    name = f"{cls.model_config['env_prefix']}{field}".upper()
    return environment(service).get(name, cls.model_fields[field].default)


def test_every_reelflow_variable_set_is_one_the_code_reads() -> None:
    unknown = {(svc, name) for svc in SERVICES for name in environment(svc)
               if name.startswith("REELFLOW_") and name not in READ_BY_CODE}
    assert not unknown, f"variables no settings class reads: {sorted(unknown)}"
    assert {"REELFLOW_KAFKA_BOOTSTRAP", "REELFLOW_PG_DSN",
            "REELFLOW_S3_ENDPOINT"} <= READ_BY_CODE  # the derivation itself is sound


def test_the_four_services_run_reelflow_from_one_image() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "pip install --no-cache-dir ." in dockerfile
    assert "ffmpeg" in dockerfile and "imageio_ffmpeg" in dockerfile
    assert 'ENTRYPOINT ["reelflow"]' in dockerfile
    builds = set()
    for name in SETTINGS:
        svc = SERVICES[name]
        assert svc["command"] == [name], name
        builds.add((svc["image"], svc["build"]["context"], svc["build"]["dockerfile"]))
    assert builds == {("reelflow:local", "..", "compose/Dockerfile")}
    assert (COMPOSE_DIR / builds.pop()[1] / "compose" / "Dockerfile").is_file()


def test_infrastructure_images_match_what_the_local_stack_runs() -> None:
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    wanted = kafka_version.group(1) if kafka_version else "4.1.1"
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{wanted}"
    assert SERVICES["postgres"]["image"].startswith("postgres:15")
    assert "-s3" in SERVICES["s3"]["command"]


def test_addresses_point_at_compose_services_and_their_ports() -> None:
    kafka_env = environment("kafka")
    for name in SETTINGS:
        env = environment(name)
        host, _, port = env["REELFLOW_KAFKA_BOOTSTRAP"].rpartition(":")
        assert host == "kafka" and f"PLAINTEXT://{host}:{port}" in \
            kafka_env["KAFKA_ADVERTISED_LISTENERS"], name
        s3 = urlparse(env["REELFLOW_S3_ENDPOINT"])
        assert s3.hostname == "s3" and f"-s3.port={s3.port}" in SERVICES["s3"]["command"]
        dsn = dict(part.split("=", 1) for part in shlex.split(env["REELFLOW_PG_DSN"]))
        pg = environment("postgres")
        assert (dsn["host"], dsn["port"]) == ("postgres", "5432"), name
        assert (dsn["dbname"], dsn["user"], dsn["password"]) == (
            pg["POSTGRES_DB"], pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])


@pytest.mark.parametrize("name", ["catalog", "ingest"])
def test_http_services_listen_on_every_interface_and_publish_their_port(name: str) -> None:
    assert setting(name, "host") == "0.0.0.0"  # 127.0.0.1 is unreachable from the host
    port = int(setting(name, "port"))
    published = {int(p.split(":")[-1]) for p in SERVICES[name]["ports"]}
    assert port in published
    assert f"127.0.0.1:{port}/health" in " ".join(SERVICES[name]["healthcheck"]["test"])


def test_the_ingest_links_and_the_catalog_port_agree() -> None:
    link = urlparse(setting("ingest", "catalog_url"))
    published = {p.split(":")[0] for p in SERVICES["catalog"]["ports"]}
    assert str(link.port) in published


def test_every_long_running_service_has_a_health_check() -> None:
    one_shot = {name for name, svc in SERVICES.items()
                if svc.get("restart") == "no" or svc.get("profiles")}
    missing = [name for name in SERVICES if name not in one_shot | {"node-exporter"}
               and "healthcheck" not in SERVICES[name]]
    assert not missing, f"no health check: {missing}"


def test_state_lives_in_declared_named_volumes() -> None:
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, svc in SERVICES.items():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
                used.add(source)
            elif source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts missing {source}"
    assert used == declared
    for stateful in ("kafka", "postgres", "s3", "prometheus", "grafana"):
        assert any(not m.startswith((".", "/")) for m in SERVICES[stateful]["volumes"])


def test_transcode_scales_by_replicas_without_a_shared_static_identity() -> None:
    transcode = SERVICES["transcode"]
    assert "replicas" in transcode["deploy"]
    assert "ports" not in transcode  # replicas cannot all publish one host port
    assert "REELFLOW_TRANSCODE_INSTANCE_ID" not in environment("transcode")
    assert not transcode.get("volumes")  # each replica sweeps its own scratch at start


def test_services_wait_for_topics_and_bucket() -> None:
    for name in SETTINGS:
        assert SERVICES[name]["depends_on"]["init"]["condition"] == \
            "service_completed_successfully"
    script = SERVICES["init"]["command"][0]
    assert "create_topics()" in script and "create_bucket()" in script


def _scrape_targets() -> dict[str, set[tuple[str, int]]]:
    jobs: dict[str, set[tuple[str, int]]] = {}
    for job in PROMETHEUS["scrape_configs"]:
        found = jobs.setdefault(job["job_name"], set())
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                found.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            found.update((name, int(dns["port"])) for name in dns["names"])
    return jobs


def test_prometheus_scrapes_each_metrics_port_of_the_compose_services() -> None:
    jobs = _scrape_targets()
    for name, field in METRICS_PORT_FIELD.items():
        assert jobs.get(name) == {(name, int(setting(name, field)))}, name
    for job, targets in jobs.items():
        for host, _ in targets:
            assert host == "localhost" or host in SERVICES, f"{job} scrapes unknown {host}"
    assert "-metricsPort=9324" in SERVICES["s3"]["command"] and jobs["s3"] == {("s3", 9324)}
    rule_files = PROMETHEUS["rule_files"]
    mounted = " ".join(SERVICES["prometheus"]["volumes"])
    assert all(f"/etc/prometheus/{f}" in mounted for f in rule_files)


def test_worker_metrics_are_reachable_from_another_container() -> None:
    # Prometheus runs in its own container: the workers must bind /metrics on all interfaces.
    for name in ("transcode", "packager"):
        env = SERVICES[name]["environment"]
        assert env[f"REELFLOW_{name.upper()}_METRICS_HOST"] == "0.0.0.0", name
