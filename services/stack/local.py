"""Bringing the whole local stack up, down and back, idempotently."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from typing import Protocol

from services.stack.apps import services
from services.stack.kafka import Kafka, StackError
from services.stack.postgres import Postgres
from services.stack.process import ManagedProcess
from services.stack.prometheus import Prometheus
from services.stack.seaweed import Seaweed
from services.stack.settings import StackSettings

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str
    process: ManagedProcess

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def healthy(self) -> bool: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    state: str  # healthy | unhealthy | stopped
    address: str
    log: str


class LocalStack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.kafka = Kafka(self.settings)
        self.postgres = Postgres(self.settings)
        self.s3 = Seaweed(self.settings)
        self.infra: list[Component] = [self.kafka, self.postgres, self.s3]
        app_services = services(self.settings)
        self.apps: list[Component] = list(app_services)
        # Started with the services it scrapes, after them; stopped first.
        self.prometheus = Prometheus(self.settings, app_services)
        self.monitoring: list[Component] = [self.prometheus]

    @property
    def components(self) -> list[Component]:
        return [*self.infra, *self.apps, *self.monitoring]

    def component(self, name: str) -> Component:
        for item in self.components:
            if item.name == name:
                return item
        raise KeyError(f"no component {name!r}; known: "
                       f"{', '.join(c.name for c in self.components)}")

    def up(self, infra_only: bool = False) -> bool:
        """Start whatever is not running and wait until all is healthy.

        Returns True when this call started something (so the caller knows to stop it).
        """
        started = self._start_all(self.infra)
        self.kafka.create_topics()
        self.kafka.grant_access()
        self.postgres.create_database()
        self.s3.create_bucket()
        if not infra_only:
            started = self._start_all(self.apps) or started
            started = self._start_all(self.monitoring) or started
        return started

    def _start_all(self, components: list[Component]) -> bool:
        to_start = [c for c in components if c.process.pid is None]
        for component in to_start:
            log.info("starting %s", component.name)
            component.start()
        for component in components:
            self._wait_healthy(component)
        return bool(to_start)

    def _wait_healthy(self, component: Component) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        waiting = False
        while time.monotonic() < deadline:
            if component.healthy():
                return
            if not waiting:
                log.info("waiting for %s at %s", component.name, component.address)
                waiting = True
            if component.process.pid is None:
                raise StackError(f"{component.name} exited during start; see "
                                 f"{component.process.log_file}")
            time.sleep(0.5)
        raise StackError(f"{component.name} not healthy after {self.settings.start_timeout_s:.0f}"
                         f" s; see {component.process.log_file}")

    def down(self) -> None:
        # Services first, so nothing writes into infrastructure that is going away.
        for component in (*self.monitoring, *self.apps, *reversed(self.infra)):
            component.stop()

    def restart(self, *names: str) -> None:
        """Restart the named components together: all are told to stop at once, then all
        start, then each is awaited healthy (one after another, each would wait out its own
        shutdown and start-up)."""
        components = [self.component(name) for name in names]
        self.stop_together(components)
        for component in components:
            component.start()
        for component in components:
            self._wait_healthy(component)

    def stop_together(self, components: list[Component]) -> None:
        for component in components:
            # The services' graceful shutdowns overlap; Kafka, Postgres and S3 keep their
            # own ways to stop (SIGTERM would ask Postgres for a smart shutdown).
            if component not in self.infra:
                component.process.signal(signal.SIGTERM)
        for component in components:
            component.stop()

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        self.component(name).process.signal(sig)

    def status(self) -> list[ComponentStatus]:
        rows = []
        for component in self.components:
            pid = component.process.pid
            state = "stopped" if pid is None else ("healthy" if component.healthy()
                                                   else "unhealthy")
            rows.append(ComponentStatus(component.name, pid, state, component.address,
                                        str(component.process.log_file)))
        return rows
