"""Apache Kafka 4.x, single-node KRaft, run from the broker jars Maven fetched."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas import STACK_TOPICS
from services.shared.lifecycle import AIOKAFKA_LOGGERS, hushed
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
    subprocess.run(["mvn", "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                    f"-DoutputDirectory={jars}"], check=True)
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

    def _properties(self) -> Path:
        port, controller = self.settings.kafka_port, self.settings.kafka_controller_port
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        path = self.data / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _java(self, jars: Path, *args: str) -> list[str]:
        return ["java", f"-Xmx{self.settings.kafka_heap}", f"-Xms{self.settings.kafka_heap}",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{jars}/*", *args]

    def start(self) -> None:
        jars = fetch_kafka_jars(self.settings)
        self.data.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        if not (self.data / "log" / "meta.properties").exists():
            cluster = subprocess.run(self._java(jars, "kafka.tools.StorageTool", "random-uuid"),
                                     check=True, capture_output=True, text=True)
            cluster_id = cluster.stdout.strip().splitlines()[-1]
            subprocess.run(self._java(jars, "kafka.tools.StorageTool", "format", "-t",
                                      cluster_id, "-c", str(props), "--standalone"),
                           check=True, capture_output=True, text=True)
        self.process.start(self._java(jars, "kafka.Kafka", str(props)))

    def healthy(self) -> bool:
        if self.process.pid is None:
            return False
        with hushed(AIOKAFKA_LOGGERS):  # a refused connection here just means "not yet"
            return asyncio.run(self._topics_ready(create=False))

    def create_topics(self) -> None:
        if not asyncio.run(self._topics_ready(create=True)):
            raise StackError("Kafka is up but the topics could not be created")

    async def _topics_ready(self, create: bool) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=5000)
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
