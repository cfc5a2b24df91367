"""The Reelflow services as supervised processes: `reelflow <name>` each."""

from __future__ import annotations

import os
import sys

from schemas.principals import OPERATIONS
from services.shared.kafka_security import stack_credentials
from services.stack.admin_key import ensure_admin_key, ensure_kek
from services.stack.probe import answers
from services.stack.process import ManagedProcess
from services.stack.settings import StackSettings
from services.transcode.settings import TranscodeSettings

#: (variable, default) of the services whose /metrics has a port of its own; every other
#: service serves /metrics on its HTTP port, so a new HTTP service is scraped as it is.
METRICS_PORTS = {"transcode": ("REELFLOW_TRANSCODE_METRICS_PORT", 8002),
                 "packager": ("REELFLOW_PACKAGER_METRICS_PORT", 8003),
                 "captions": ("REELFLOW_CAPTIONS_METRICS_PORT", 8005),
                 "scoring": ("REELFLOW_SCORING_METRICS_PORT", 8007),
                 "router": ("REELFLOW_ROUTER_METRICS_PORT", 8008)}


class Service:
    def __init__(self, name: str, settings: StackSettings, health_port_env: str | None,
                 default_port: int | None, command: str | None = None,
                 env: dict[str, str] | None = None, operator: bool = False) -> None:
        self.name = name
        #: Also hands over the operator tools' principal (the catalog's console actions).
        self.operator = operator
        self.command = command or name
        self.env = env or {}
        self.settings = settings
        self.process = ManagedProcess(name, settings.state_dir)
        self._port_env = health_port_env
        self._default_port = default_port

    def _setting(self, name: str, default: int) -> int:
        # The service's own env wins, as it does when start() hands it over.
        return int(self.env.get(name, os.environ.get(name, default)))

    @property
    def port(self) -> int | None:
        if self._port_env is None:
            return None
        return self._setting(self._port_env, self._default_port or 0)

    @property
    def metrics_port(self) -> int | None:
        """Where the service serves Prometheus's /metrics (None: nowhere)."""
        own = METRICS_PORTS.get(self.command)
        if own is None:
            return self.port
        return self._setting(*own) or None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port else "-"

    def start(self) -> None:
        env = self.settings.common.service_env()
        env["REELFLOW_STATE_DIR"] = str(self.settings.state_dir)
        env["REELFLOW_KEK"] = ensure_kek(self.settings.common)  # a component's env may
        env.update(self.env)                                      # rotate it (tests do)
        env["REELFLOW_ADMIN_KEY"] = ensure_admin_key(self.settings.common)
        env.update(self.kafka_env())
        self.process.start([sys.executable, "-m", "services.cli", self.command], env=env)

    def kafka_env(self) -> dict[str, str]:
        """The process's Kafka principal: the one named like its command, when the registry
        has one (schemas/principals.py); none otherwise (not the launcher's own)."""
        passwords = stack_credentials(self.settings.state_dir)
        principal = self.command if self.command in passwords else ""
        env = {"REELFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
               "REELFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
               "REELFLOW_KAFKA_USERNAME": principal,
               "REELFLOW_KAFKA_PASSWORD": passwords.get(principal, "")}
        if self.operator:
            env[f"REELFLOW_{self.command.upper()}_CONSOLE_KAFKA_USERNAME"] = OPERATIONS
            env[f"REELFLOW_{self.command.upper()}_CONSOLE_KAFKA_PASSWORD"] = passwords.get(
                OPERATIONS, "")
        return env

    def healthy(self) -> bool:
        if self.process.pid is None:
            return False
        if self.port is None:
            return True  # a pure consumer: alive is all the stack can tell
        return answers(f"{self.address}/health")

    def stop(self) -> None:
        self.process.stop(self.settings.stop_grace_s)


def services(settings: StackSettings) -> list[Service]:
    extra_workers = [
        # A starting worker sweeps its scratch root, so each process gets its own.
        Service(f"transcode-{n}", settings, None, None, command="transcode",
                env={"REELFLOW_TRANSCODE_METRICS_PORT": "0",
                     "REELFLOW_TRANSCODE_WORK_DIR": str(settings.state_dir
                                                        / f"transcode-{n}-work")})
        for n in range(2, settings.transcode_workers + 1)
    ]
    # The lane router fills the lanes the workers read; with the lanes off (workers on
    # video-uploaded directly) nobody would drain them, so it is not started.
    router = [Service("router", settings, None, None)] if TranscodeSettings().lanes else []
    return [
        Service("catalog", settings, "REELFLOW_CATALOG_PORT", 8000, operator=True),
        Service("ingest", settings, "REELFLOW_INGEST_PORT", 8001),
        *router,
        Service("transcode", settings, None, None),
        *extra_workers,
        Service("packager", settings, None, None),
        Service("captions", settings, None, None),
        Service("scoring", settings, None, None),
        Service("chunks", settings, None, None),
        Service("figures", settings, "REELFLOW_FIGURES_PORT", 8004),
        Service("webhooks", settings, "REELFLOW_WEBHOOKS_PORT", 8006),
    ]
