"""The local stack's lifecycle: Kafka, PostgreSQL and SeaweedFS S3 come up on their own ports
and state directory, are provisioned from the topic registry and the shared settings, bind
loopback only, survive a second `up` untouched, come back after a crash, and `down` leaves
no process behind.

Ports are 20xxx/22xxx (SeaweedFS also binds each + 10000): away from the dev stack and the
test session's stack (21xxx/24xxx), so this runs next to both, and below Linux's ephemeral range
(32768-60999), where a busy machine's outgoing connections can take a port at random.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import ALL_TOPICS
from schemas.principals import ADMIN
from services.shared.kafka_security import acting_as, client_options, stack_principal
from services.shared.settings import CommonSettings
from services.shared.storage import s3_client
from services.stack import ComponentStatus, LocalStack, StackSettings
from tests.polling import wait_until

pytestmark = pytest.mark.integration

KAFKA, CONTROLLER, POSTGRES = 22092, 22093, 22432
S3, WEED_MASTER, WEED_VOLUME, WEED_FILER = 20333, 20334, 20080, 20888
INFRA = ("kafka", "postgres", "s3")
#: Every TCP port the infrastructure may listen on: SeaweedFS adds gRPC at port + 10000.
EXPECTED_PORTS = {
    "kafka": {KAFKA, CONTROLLER},
    "postgres": {POSTGRES},
    "s3": {p + offset for p in (S3, WEED_MASTER, WEED_VOLUME, WEED_FILER) for offset in (0, 10000)},
}

CLIENT_PORT = {"kafka": KAFKA, "postgres": POSTGRES, "s3": S3}


@dataclass
class RunningStack:
    stack: LocalStack
    settings: StackSettings
    state_dir: Path
    started: object
    startup_s: float


def stack_settings(state_dir: Path) -> StackSettings:
    common = CommonSettings(
        state_dir=state_dir,
        kafka_bootstrap=f"127.0.0.1:{KAFKA}",
        s3_endpoint=f"http://127.0.0.1:{S3}",
        pg_dsn=f"host=127.0.0.1 port={POSTGRES} dbname=reelflow user=reelflow",
    )
    return StackSettings(
        common=common,
        kafka_controller_port=CONTROLLER,
        weed_master_port=WEED_MASTER,
        weed_volume_port=WEED_VOLUME,
        weed_filer_port=WEED_FILER,
    )


@pytest.fixture(scope="module")
def running() -> Iterator[RunningStack]:
    # A short path under /tmp: Unix socket paths (Postgres, SeaweedFS) are limited to ~107
    # bytes, and pytest's tmp_path can be longer than that.
    state_dir = Path(tempfile.mkdtemp(prefix="rf-stack-"))
    # When the tests run as root, Postgres runs as the `postgres` user and must reach it.
    state_dir.chmod(0o755)
    settings = stack_settings(state_dir)
    stack = LocalStack(settings)
    t0 = time.monotonic()
    try:
        started = stack.up(infra_only=True)
    except BaseException:
        stack.down()
        raise
    try:
        yield RunningStack(stack, settings, state_dir, started, time.monotonic() - t0)
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def rows(stack: LocalStack) -> dict[str, ComponentStatus]:
    return {row.name: row for row in stack.status()}


def pids(stack: LocalStack) -> dict[str, int | None]:
    return {row.name: row.pid for row in stack.status() if row.name in INFRA}


def test_up_starts_kafka_postgres_and_s3_healthy(running: RunningStack) -> None:
    print(f"infra up in {running.startup_s:.1f} s")
    assert running.started, "up() on an empty state dir must report that it started something"
    status = rows(running.stack)
    for name in INFRA:
        row = status[name]
        assert row.state == "healthy", row
        assert row.pid
    # --infra-only: no application service was started.
    assert all(row.state == "stopped" for name, row in status.items() if name not in INFRA)


def test_every_registry_topic_exists_with_its_partitions_and_config(
        running: RunningStack) -> None:
    async def describe() -> tuple[dict[str, int], dict[str, dict[str, str]]]:
        with acting_as(stack_principal(running.state_dir, ADMIN)):
            admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=f"127.0.0.1:{KAFKA}")
        await admin.start()
        try:
            topics = await admin.describe_topics([t.name for t in ALL_TOPICS])
            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in ALL_TOPICS])
        finally:
            await admin.close()
        partitions = {t["topic"]: len(t["partitions"]) for t in topics if t["error_code"] == 0}
        values = {
            resource["resource_name"]: {e["config_names"]: e["config_value"]
                                        for e in resource["config_entries"]}
            for response in configs for resource in response.to_object()["resources"]
        }
        return partitions, values

    partitions, configs = asyncio.run(describe())
    assert partitions == {t.name: t.partitions for t in ALL_TOPICS}
    for topic in ALL_TOPICS:
        for key, value in topic.config().items():
            assert configs[topic.name][key] == value, (topic.name, key)


def test_the_bucket_exists_and_an_object_round_trips(running: RunningStack) -> None:
    common = running.settings.common
    s3 = s3_client(common)
    s3.head_bucket(Bucket=common.s3_bucket)
    body = os.urandom(256 * 1024)
    s3.put_object(Bucket=common.s3_bucket, Key="stack-test/blob.bin", Body=body,
                  ContentType="video/mp4")
    got = s3.get_object(Bucket=common.s3_bucket, Key="stack-test/blob.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "video/mp4"
    ranged = s3.get_object(Bucket=common.s3_bucket, Key="stack-test/blob.bin", Range="bytes=10-19")
    assert ranged["Body"].read() == body[10:20]


def test_postgres_accepts_the_reelflow_role_which_owns_its_database(
        running: RunningStack) -> None:
    with psycopg.connect(running.settings.common.pg_dsn, connect_timeout=5) as conn:
        user, database = conn.execute("SELECT current_user, current_database()").fetchone()
        assert (user, database) == ("reelflow", "reelflow")
        # The catalog's migrations create tables: the role must be able to.
        conn.execute("CREATE TABLE stack_test (id int PRIMARY KEY)")
        conn.execute("DROP TABLE stack_test")


def test_the_infrastructure_listens_on_loopback_and_its_own_ports_only(
        running: RunningStack) -> None:
    for name, pid in pids(running.stack).items():
        assert pid is not None
        listening = listening_sockets(process_tree(pid))
        hosts = {host for host, _ in listening}
        ports = {port for _, port in listening}
        # Not vacuous: each component's sockets were read, and its client port is among them.
        assert CLIENT_PORT[name] in ports, (name, listening)
        assert hosts <= {"127.0.0.1"}, (name, listening)
        assert ports <= EXPECTED_PORTS[name], (name, sorted(ports - EXPECTED_PORTS[name]))


def test_up_again_starts_nothing(running: RunningStack) -> None:
    before = pids(running.stack)
    assert not running.stack.up(infra_only=True)
    assert pids(running.stack) == before


def test_a_crashed_component_is_started_again_by_up(running: RunningStack) -> None:
    old = pids(running.stack)["postgres"]
    assert old is not None
    running.stack.kill("postgres", signal.SIGKILL)
    wait_until(lambda: rows(running.stack)["postgres"].state == "stopped",
               "postgres stopped", every=0.1)

    assert running.stack.up(infra_only=True)
    row = rows(running.stack)["postgres"]
    assert row.state == "healthy" and row.pid not in (None, old), row
    with psycopg.connect(running.settings.common.pg_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_down_stops_everything_and_leaves_no_process(running: RunningStack) -> None:
    trees = {name: process_tree(pid) for name, pid in pids(running.stack).items() if pid}
    assert trees
    t0 = time.monotonic()
    running.stack.down()
    print(f"infra down in {time.monotonic() - t0:.1f} s")

    assert all(row.state == "stopped" for row in running.stack.status())
    # Nothing of the old trees may stay alive (an orphan gets a few seconds to notice its
    # parent is gone; one still alive after that is a leak).
    def leftovers() -> dict[str, list[int]]:
        alive, _ = processes()
        return {name: sorted(tree & alive) for name, tree in trees.items() if tree & alive}

    try:
        wait_until(lambda: not leftovers(), "every process of the stack exited", 10,
                   every=0.2)
    except AssertionError:
        raise AssertionError(f"still alive: {leftovers()}") from None
    assert not list((running.state_dir / "run").glob("*.pid"))
    busy = [p for ports in EXPECTED_PORTS.values() for p in ports if port_in_use(p)]
    assert not busy, busy


# --- what the operating system says ------------------------------------------------------

def processes() -> tuple[set[int], dict[int, set[int]]]:
    """Live (non-zombie) pids, and every pid's children, from /proc."""
    alive: set[int] = set()
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, ppid = fields[0], int(fields[1])
        if state not in ("Z", "X"):
            alive.add(int(entry.name))
        children.setdefault(ppid, set()).add(int(entry.name))
    return alive, children


def process_tree(root: int) -> set[int]:
    """A live process and its live descendants. Process groups are not enough: PostgreSQL
    puts each of its child processes in a session of its own."""
    alive, children = processes()
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return tree & alive


def listening_sockets(pids: set[int]) -> set[tuple[str, int]]:
    """(host, port) of every TCP socket in LISTEN state that these processes hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except FileNotFoundError:
            continue  # the process ended meanwhile; a reader lacking rights fails instead
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.add((decode_address(address), int(port, 16)))
    return found


def decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc/net stores each 32-bit word in host (little-endian) order.
    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
    packed = b"".join(words)
    if len(packed) == 16 and packed[:12] == b"\0" * 10 + b"\xff\xff":
        packed = packed[12:]  # IPv4-mapped IPv6, as the JVM listens
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


