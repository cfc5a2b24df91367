"""Session fixtures: the real local stack (Kafka, PostgreSQL, SeaweedFS S3, FFmpeg), started
once per test session on its own ports and state directory so it never touches a dev stack.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# REELFLOW_TEST_SLOT (0-9) shifts every port and the state dir, so several test sessions can
# run side by side on one machine without sharing a stack.
SLOT = int(os.environ.get("REELFLOW_TEST_SLOT", "0"))
TEST_STATE = ROOT / (".reelflow-test" if SLOT == 0 else f".reelflow-test-{SLOT}")


def _port(base: int) -> str:
    return str(base + 100 * SLOT)


# Ports below Linux's ephemeral range (32768-60999), so an outgoing connection can never
# hold one; SeaweedFS also binds each of its ports + 10000 for gRPC.
TEST_ENV = {
    "REELFLOW_STATE_DIR": str(TEST_STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{_port(24092)}",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": _port(24093),
    "REELFLOW_PG_DSN": f"host=127.0.0.1 port={_port(24432)} dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": f"http://127.0.0.1:{_port(21333)}",
    "REELFLOW_STACK_WEED_MASTER_PORT": _port(21334),
    "REELFLOW_STACK_WEED_VOLUME_PORT": _port(21080),
    "REELFLOW_STACK_WEED_FILER_PORT": _port(21888),
    "REELFLOW_INGEST_PORT": _port(24001),
    "REELFLOW_CATALOG_PORT": _port(24000),
    "REELFLOW_INGEST_CATALOG_URL": f"http://127.0.0.1:{_port(24000)}",
    "REELFLOW_TRANSCODE_METRICS_PORT": _port(24002),
    "REELFLOW_PACKAGER_METRICS_PORT": _port(24003),
    "REELFLOW_FIGURES_PORT": _port(24004),
    "REELFLOW_LOG_LEVEL": "INFO",
    "REELFLOW_INGEST_IMPORT_ROOTS": f'["{TEST_STATE / "imports"}"]',
    # The session's admin key (see tests/access.py); a test's own stack may use another.
    "REELFLOW_ADMIN_KEY": f"reelflow-test-admin-{SLOT}",
}
os.environ.update(TEST_ENV)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """Kafka, PostgreSQL and S3, up for the whole session (services are started per need)."""
    from services.stack import LocalStack, StackSettings

    if TEST_STATE.exists():
        shutil.rmtree(TEST_STATE)
    stack = LocalStack(StackSettings())
    try:
        stack.up(infra_only=True)
    except Exception:
        stack.down()
        raise
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def common_settings(local_stack: object):  # type: ignore[no-untyped-def]
    from services.shared.settings import CommonSettings

    return CommonSettings()


@pytest.fixture(scope="session")
def pipeline(local_stack):  # type: ignore[no-untyped-def]
    """All four services running, each as its own process, on the session's stack."""
    local_stack.up(infra_only=False)
    yield local_stack


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clips", type=int, default=None,
                     help="clips per reliability scenario (tests/reliability; default 4, "
                          "or REELFLOW_RELIABILITY_CLIPS)")
