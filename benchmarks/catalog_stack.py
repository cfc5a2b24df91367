"""The catalog benchmarks' own infrastructure: Kafka, PostgreSQL and SeaweedFS under
`.reelflow-bench-catalog/`, on ports no dev stack, test slot or other benchmark uses.

Each run works in a Postgres schema and consumer group of its own (`bench_<run>`), so runs
never see each other's read models; the schema is dropped at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".reelflow-bench-catalog"
#: Kafka/Postgres/HTTP on 267xx; SeaweedFS on 2254x (it also binds each port + 10000,
#: which must stay below the ephemeral range). `REELFLOW_BENCH_PORT_SHIFT` moves them all
#: (e.g. -1537), for a machine where a test session (slot 27) holds 267xx.
_SHIFT = int(os.environ.get("REELFLOW_BENCH_PORT_SHIFT", "0"))


def _port(base: int) -> str:
    return str(base + _SHIFT)


BENCH_ENV = {
    "REELFLOW_STATE_DIR": str(STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{_port(26792)}",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": _port(26793),
    "REELFLOW_PG_DSN": f"host=127.0.0.1 port={_port(26732)} dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": f"http://127.0.0.1:{_port(22540)}",
    "REELFLOW_STACK_WEED_MASTER_PORT": _port(22541),
    "REELFLOW_STACK_WEED_VOLUME_PORT": _port(22542),
    "REELFLOW_STACK_WEED_FILER_PORT": _port(22543),
    "REELFLOW_CATALOG_PORT": _port(26700),
    "REELFLOW_INGEST_PORT": _port(26701),
    "REELFLOW_LOG_LEVEL": "WARNING",
    "REELFLOW_ADMIN_KEY": "reelflow-bench-admin",
}


def use_bench_env() -> None:
    """Point every settings object built from now on at the benchmark stack (an admin key
    already in the environment, e.g. a test session's, is kept)."""
    for key, value in BENCH_ENV.items():
        if key == "REELFLOW_ADMIN_KEY":
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    # The stack's Kafka health probe logs every refused connection while the broker starts.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def infrastructure() -> Iterator[None]:
    """Kafka, PostgreSQL and S3 up; stopped afterwards only if this call started them
    (so a stack kept up between runs, `reelflow stack up --infra-only` with BENCH_ENV,
    is reused)."""
    from schemas.principals import ADMIN
    from services.shared.kafka_security import use_stack_credentials
    from services.stack import LocalStack, StackSettings

    stack = LocalStack(StackSettings())
    started_at = time.perf_counter()
    started = stack.up(infra_only=True)
    use_stack_credentials(ADMIN)  # the benchmark's own Kafka clients: the super user
    print(f"infrastructure {'started' if started else 'already up'} in "
          f"{time.perf_counter() - started_at:.1f} s (state {STATE})", flush=True)
    try:
        yield
    finally:
        if started:
            stack.down()


def run_name() -> str:
    return f"bench_{uuid.uuid4().hex[:8]}"


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop: on a shared VM, CPU time stretches with the
    neighbours' load (steal), so this says how slow "a CPU second" was during the run."""
    started = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - started
