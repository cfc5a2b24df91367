"""Apache Kafka 4.x, single-node KRaft, run from the broker jars Maven fetched.

Clients connect only with SASL/SCRAM-SHA-512 (listener `CLIENT`, SASL_PLAINTEXT on
127.0.0.1; there is no PLAINTEXT listener), and `StandardAuthorizer` lets each principal do
what schemas/principals.py derives from the registry. The controller listener speaks
SASL/PLAIN with the super user alone (KRaft cannot use SCRAM there: its credentials live in
the very metadata log the controller serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas import STACK_TOPICS
from services.shared.kafka_security import (
    Credentials,
    acting_as,
    client_options,
    java_client_properties,
)
from services.shared.lifecycle import AIOKAFKA_LOGGERS, hushed
from services.shared.settings import CommonSettings
from services.stack import kafka_principals
from services.stack.kafka_principals import ADMIN, ScramUsers
from services.stack.process import ManagedProcess
from services.stack.settings import KAFKA_POM, StackSettings

LOG4J = Path(__file__).with_name("log4j2.yaml")


class StackError(RuntimeError):
    """The local stack cannot start; the message says what to do."""


def fetch_kafka_jars(settings: StackSettings) -> Path:
    jars = settings.kafka_jars
    if (jars / ".complete").exists():
        return jars
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed to fetch the Kafka jars; run ./run setup")
    jars.mkdir(parents=True, exist_ok=True)
    # Captured: Maven's console library prints colour resets even when quiet.
    done = subprocess.run(["mvn", "-q", "-B", "-f", str(KAFKA_POM),
                           "dependency:copy-dependencies", f"-DoutputDirectory={jars}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"Maven could not fetch the Kafka jars:\n{done.stdout}{done.stderr}")
    (jars / ".complete").touch()
    return jars


class Kafka:
    name = "kafka"

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.data = settings.state_dir / "data" / "kafka"
        self.process = ManagedProcess(self.name, settings.state_dir)

    @property
    def address(self) -> str:
        return self.settings.common.kafka_bootstrap

    @property
    def _admin(self) -> Credentials:
        return kafka_principals.admin(kafka_principals.ensure_passwords(self.settings.state_dir))

    @property
    def _own_listener(self) -> CommonSettings:
        """The settings the stack's own clients use: its listener's, whatever the
        environment says for other brokers."""
        return self.settings.common.model_copy(update={
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": kafka_principals.MECHANISM})

    def _properties(self) -> Path:
        port, controller = self.settings.kafka_port, self.settings.kafka_controller_port
        who = self._admin
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "CLIENT",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "listener.name.client.sasl.enabled.mechanisms": kafka_principals.MECHANISM,
            "sasl.mechanism.inter.broker.protocol": kafka_principals.MECHANISM,
            "listener.name.client.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{who.username}" password="{who.password}";',
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{who.username}" password="{who.password}" '
                f'user_{who.username}="{who.password}";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{who.username}",
            "allow.everyone.if.no.acl.found": "false",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
            "log.dirs": str(self.data / "log"),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # No rebalance delay: a lone consumer should start at once on a dev stack.
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "num.partitions": "6",
        }
        return self._private("server.properties", lines)

    def _private(self, name: str, lines: dict[str, str]) -> Path:
        """A properties file only the stack's user reads (it holds the admin password)."""
        path = self.data / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file may have been made with a wider mode
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _java(self, jars: Path, *args: str) -> list[str]:
        return ["java", f"-Xmx{self.settings.kafka_heap}", f"-Xms{self.settings.kafka_heap}",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{jars}/*", *args]

    def start(self) -> None:
        jars = fetch_kafka_jars(self.settings)
        self.data.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        formatted = (self.data / "log" / "meta.properties").exists()
        if formatted and ADMIN not in ScramUsers(self.data).known():
            raise StackError(f"the Kafka log under {self.data} predates SASL (no admin "
                             "credentials); stop the stack and remove that folder to make a "
                             "new one (its records are lost)")
        if not formatted:
            cluster = subprocess.run(self._java(jars, "kafka.tools.StorageTool", "random-uuid"),
                                     check=True, capture_output=True, text=True)
            cluster_id = cluster.stdout.strip().splitlines()[-1]
            passwords = kafka_principals.ensure_passwords(self.settings.state_dir)
            scram = [arg for name, password in passwords.items()
                     for arg in ("--add-scram", kafka_principals.scram_argument(name, password))]
            subprocess.run(self._java(jars, "kafka.tools.StorageTool", "format", "-t",
                                      cluster_id, "-c", str(props), "--standalone", *scram),
                           check=True, capture_output=True, text=True)
            ScramUsers(self.data).record(passwords)
        self.process.start(self._java(jars, "kafka.Kafka", str(props)))

    def grant_access(self) -> None:
        """Credentials for principals the log does not know yet, then the registry's ACLs."""
        passwords = kafka_principals.ensure_passwords(self.settings.state_dir)
        users = ScramUsers(self.data)
        missing = sorted(set(passwords) - users.known())
        if missing:
            with acting_as(self._admin):
                admin = java_client_properties(self._own_listener)
            config = self._private("admin.properties", admin)
            jars = fetch_kafka_jars(self.settings)
            for name in missing:
                subprocess.run(self._java(
                    jars, "kafka.admin.ConfigCommand", "--bootstrap-server", self.address,
                    "--command-config", str(config), "--alter", "--entity-type", "users",
                    "--entity-name", name, "--add-config",
                    kafka_principals.scram_config(passwords[name])),
                    check=True, capture_output=True, text=True)
                users.record([name])
        asyncio.run(self._sync_acls())

    async def _sync_acls(self) -> None:
        admin = self._admin_client()
        await admin.start()
        try:
            await kafka_principals.sync_acls(admin)
        finally:
            await admin.close()

    def _admin_client(self) -> AIOKafkaAdminClient:
        with acting_as(self._admin):
            security = client_options(self._own_listener)
        return AIOKafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=5000,
                                   **security)

    def healthy(self) -> bool:
        if self.process.pid is None:
            return False
        with hushed(AIOKAFKA_LOGGERS):  # a refused connection here just means "not yet"
            return asyncio.run(self._topics_ready(create=False))

    def create_topics(self) -> None:
        if not asyncio.run(self._topics_ready(create=True)):
            raise StackError("Kafka is up but the topics could not be created")

    async def _topics_ready(self, create: bool) -> bool:
        admin = self._admin_client()
        try:
            await admin.start()
        except (KafkaError, OSError):
            return False
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in STACK_TOPICS if t.name not in existing]
            if create and missing:
                # Another `up` may have created them in between: that is the state we want.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([
                        NewTopic(t.name, t.partitions, 1, topic_configs=t.config())
                        for t in missing])
            if not create:
                return True
            # Metadata of just-created topics can lag a moment behind the create call.
            for _ in range(20):
                described = await admin.describe_topics([t.name for t in STACK_TOPICS])
                partitions = {d.get("topic") or d.get("name"): len(d["partitions"])
                              for d in described}
                wrong = [t.name for t in STACK_TOPICS if partitions.get(t.name) != t.partitions]
                if not wrong:
                    return True
                await asyncio.sleep(0.5)
            raise StackError(f"topics {wrong} exist with other partition counts than "
                             f"schemas/registry.py declares: {partitions}")
        except KafkaError:
            return False
        finally:
            await admin.close()

    def stop(self) -> None:
        self.process.stop(self.settings.stop_grace_s)
