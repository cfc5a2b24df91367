"""compose/k8s agrees with the code, as compose/docker-compose.yml does: the kustomization
is rendered with `kubectl kustomize` (what `kubectl apply -k` applies) and every
Deployment, Service, probe, PodDisruptionBudget and KEDA ScaledObject is checked against
the settings classes the services read and the registry's topology, so the manifests
cannot drift from the code."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

import schemas
from schemas import STACK_TOPICS
from schemas.principals import ADMIN, OBSERVERS, principals
from services.shared.settings import CommonSettings
from services.stack.settings import StackSettings
from tests.tools import tool
from tests.unit.compose.test_docker_compose import COMPOSE_DIR, env_names

K8S = COMPOSE_DIR / "k8s"
SERVICES_DIR = Path(__file__).resolve().parents[3] / "services"
#: The worker groups the issue names for KEDA; each one the code has must scale on its lag.
SCALED_GROUPS = ("transcode", "chunks", "captions", "scoring")


def _render() -> list[dict[str, Any]]:
    kubectl = tool("kubectl", "kubernetes-client")  # its built-in kustomize
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return _render()


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def service_settings() -> dict[str, type[BaseSettings]]:
    """Each service folder's settings class, for the folders that run as a process of
    their own (`reelflow <folder>`: an entry module with `add_parser`) and join a group."""
    found: dict[str, type[BaseSettings]] = {}
    for folder in sorted(SERVICES_DIR.iterdir()):
        if not (folder / "settings.py").exists() or not (folder / "main.py").exists():
            continue
        if "def add_parser" not in (folder / "main.py").read_text():
            continue
        module = importlib.import_module(f"services.{folder.name}.settings")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseSettings)
                    and value.__module__ == module.__name__ and "group_id" in value.model_fields):
                found[folder.name] = value
    return found


SETTINGS = service_settings()
READ_BY_CODE = set().union(*(env_names(c) for c in (CommonSettings, StackSettings,
                                                    *SETTINGS.values())))


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def secret_env_of(workload: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) of the variables a container takes from a Secret."""
    return {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"],
                        e["valueFrom"]["secretKeyRef"]["key"])
            for e in container(workload).get("env", []) if "valueFrom" in e}


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container(deployment).get("env", [])
            if "value" in e}


def setting(name: str, deployment: dict[str, Any], field: str) -> Any:
    cls = SETTINGS[name]
    variable = f"{cls.model_config['env_prefix']}{field}".upper()
    return env_of(deployment).get(variable, cls.model_fields[field].default)


def listening_port_field(name: str) -> tuple[str, str]:
    """(port field, host field) of what serves /health: the HTTP API, or the metrics port
    of a worker (prometheus_client's server answers every path, /health included)."""
    fields = SETTINGS[name].model_fields
    return ("port", "host") if "port" in fields else ("metrics_port", "metrics_host")


def test_the_services_found_are_the_known_ones() -> None:
    assert {"ingest", "catalog", "transcode", "packager", "router", "figures"} <= set(SETTINGS)


def test_one_deployment_per_service_running_its_own_command(docs) -> None:
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SETTINGS)
    for name, deployment in deployments.items():
        spec = container(deployment)
        assert spec["args"] == [name], name
        assert spec["image"].startswith("reelflow"), name
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {
        of_kind(docs, "Namespace").popitem()[0]}


def test_every_reelflow_variable_set_is_one_the_code_reads(docs) -> None:
    (config,) = of_kind(docs, "ConfigMap").values()
    names = set(config["data"])
    workloads = [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]
    for workload in workloads:
        names |= {e["name"] for e in container(workload).get("env", [])}
        refs = {(kind, r[kind]["name"]) for r in container(workload)["envFrom"] for kind in r}
        assert refs == {("configMapRef", config["metadata"]["name"]),
                        ("secretRef", "reelflow-secrets")}, workload["metadata"]["name"]
    # The Secret is made by hand: the command in kustomization.yaml names its keys.
    names |= set(re.findall(r"--from-literal=(REELFLOW_\w+)=",
                            (K8S / "kustomization.yaml").read_text()))
    unknown = {n for n in names if n.startswith("REELFLOW_") and n not in READ_BY_CODE}
    assert not unknown, f"variables no settings class reads: {sorted(unknown)}"
    assert {"REELFLOW_ADMIN_KEY", "REELFLOW_PG_DSN", "REELFLOW_S3_SECRET_KEY",
            "REELFLOW_KAFKA_BOOTSTRAP"} <= names


def test_probes_ask_health_on_the_port_the_service_listens_on(docs) -> None:
    for name, deployment in of_kind(docs, "Deployment").items():
        port_field, host_field = listening_port_field(name)
        port = int(setting(name, deployment, port_field))
        assert port, f"{name} serves nothing to probe"
        assert setting(name, deployment, host_field) == "0.0.0.0", name  # reachable by kubelet
        spec = container(deployment)
        ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = spec[probe]["httpGet"]
            assert get["path"] == "/health", (name, probe)
            assert ports[get["port"]] == port, (name, probe)


def test_each_service_object_routes_to_the_listening_port(docs) -> None:
    deployments = of_kind(docs, "Deployment")
    for name, service in of_kind(docs, "Service").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        ports = {p["name"]: p["containerPort"] for p in container(deployments[name])["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, name


def test_every_container_requests_cpu_and_memory(docs) -> None:
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(docs, kind).items():
            requests = container(workload)["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests), name


def test_each_deployment_has_a_disruption_budget_over_its_pods(docs) -> None:
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        budget = budgets[name]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= labels.items(), name
        assert {"minAvailable", "maxUnavailable"} & set(budget), name
        if "minAvailable" in budget:  # a budget the Deployment can never meet blocks drains
            assert budget["minAvailable"] < deployment["spec"]["replicas"], name


def test_the_lane_router_never_runs_twice(docs) -> None:
    router = of_kind(docs, "Deployment")["router"]["spec"]
    assert router["replicas"] == 1 and router["strategy"]["type"] == "Recreate"
    assert "router" not in {s["spec"]["scaleTargetRef"]["name"]
                            for s in of_kind(docs, "ScaledObject").values()}


def groups_in_code() -> dict[str, str]:
    """Consumer group -> the service whose settings default to it."""
    found = {}
    for name, cls in SETTINGS.items():
        for field, info in cls.model_fields.items():
            if field.endswith("group_id") and isinstance(info.default, str):
                found[info.default] = name
    return found


def test_every_worker_group_the_code_has_scales_on_its_lag_with_keda(docs) -> None:
    scaled = of_kind(docs, "ScaledObject")
    groups = groups_in_code()
    wanted = [g for g in SCALED_GROUPS if g in groups]
    assert "transcode" in wanted
    targets = {s["spec"]["scaleTargetRef"]["name"]: s for s in scaled.values()}
    for group in wanted:
        service = groups[group]
        assert service in targets, f"no ScaledObject for the {group} group"
        triggers = targets[service]["spec"]["triggers"]
        assert any(t["metadata"]["consumerGroup"] == group for t in triggers), group


def test_every_trigger_watches_a_real_group_on_a_topic_that_group_reads(docs) -> None:
    groups = groups_in_code()
    deployments = of_kind(docs, "Deployment")
    (config,) = of_kind(docs, "ConfigMap").values()
    for scaled in of_kind(docs, "ScaledObject").values():
        target = scaled["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        assert scaled["spec"]["maxReplicaCount"] >= scaled["spec"]["minReplicaCount"] >= 1
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "kafka"
            meta = trigger["metadata"]
            assert meta["bootstrapServersFromEnv"] in config["data"]
            group = meta["consumerGroup"]
            assert group in groups, f"{group}: no service has that group"
            topic = schemas.topic_by_name(meta["topic"])
            assert groups[group] in topic.readers, (group, topic.name)
            assert int(meta["lagThreshold"]) >= 1
        # A replica beyond the partitions of what it reads would get none.
        lanes = [t for t in scaled["spec"]["triggers"]
                 if t["metadata"]["consumerGroup"] == target]
        partitions = min(schemas.topic_by_name(t["metadata"]["topic"]).partitions
                         for t in lanes)
        assert scaled["spec"]["maxReplicaCount"] <= partitions


def test_each_service_connects_to_kafka_as_its_own_principal(docs) -> None:
    known = set(principals(STACK_TOPICS))
    for name, deployment in of_kind(docs, "Deployment").items():
        assert env_of(deployment)["REELFLOW_KAFKA_USERNAME"] == name, name
        assert name in known, f"{name} is no principal the registry implies"
        assert secret_env_of(deployment)["REELFLOW_KAFKA_PASSWORD"] == ("reelflow-kafka", name)
    (init,) = of_kind(docs, "Job").values()
    assert env_of(init)["REELFLOW_KAFKA_USERNAME"] == ADMIN  # it creates the topics
    (config,) = of_kind(docs, "ConfigMap").values()
    assert config["data"]["REELFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_keda_reads_the_lag_as_an_observer_over_the_clients_own_security(docs) -> None:
    (config,) = of_kind(docs, "ConfigMap").values()
    mechanism = config["data"]["REELFLOW_KAFKA_SASL_MECHANISM"]
    auths = of_kind(docs, "TriggerAuthentication")
    for scaled in of_kind(docs, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            meta = trigger["metadata"]
            assert meta["sasl"] == mechanism.lower().replace("-", "_").replace("sha_", "sha")
            assert meta["tls"] == "enable"  # SASL_SSL
            refs = auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
            assert {r["parameter"] for r in refs} == {"username", "password"}
    # The kustomization's instructions make that secret with a principal that may
    # DESCRIBE every group (the lag) and nothing it does not need beyond that.
    made = re.search(r"create secret generic reelflow-kafka-keda[^\n]*\n[^\n]*"
                     r"--from-literal=username=(\w+)", (K8S / "kustomization.yaml").read_text())
    assert made and made.group(1) in OBSERVERS
