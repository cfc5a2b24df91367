"""Session fixtures: the test slot's environment, and the real local stack (Kafka,
PostgreSQL, SeaweedFS S3, FFmpeg), started once per test session on its own ports and state
directory so it never touches a dev stack.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.slot import TEST_ENV, TEST_STATE


@pytest.fixture(scope="session", autouse=True)
def test_environment() -> Iterator[dict[str, str]]:
    """The slot's settings (tests/slot.py) in the environment, for the session only: set
    here rather than at import, so collecting a module reads no settings and a module that
    does so anyway at import time sees the developer's environment, not the test slot's."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_ENV.items():
            patch.setenv(name, value)
        yield TEST_ENV


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """Kafka, PostgreSQL and S3, up for the whole session (services are started per need)."""
    from schemas.principals import ADMIN
    from services.shared.kafka_security import stack_principal
    from services.stack import LocalStack, StackSettings

    if TEST_STATE.exists():
        shutil.rmtree(TEST_STATE)
    stack = LocalStack(StackSettings())
    try:
        stack.up(infra_only=True)
    except Exception:
        stack.down()
        raise
    # The tests' own Kafka clients (and services a test starts itself) act as the stack's
    # super user; the services the stack starts each get their own principal.
    admin = stack_principal(TEST_STATE, ADMIN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REELFLOW_KAFKA_USERNAME", admin.username)
        patch.setenv("REELFLOW_KAFKA_PASSWORD", admin.password)
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


@pytest.fixture(scope="session")
def store(common_settings):  # type: ignore[no-untyped-def]
    """The session stack's object store (S3)."""
    from services.shared.storage import ObjectStore

    return ObjectStore(common_settings)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clips", type=int, default=None,
                     help="clips per reliability scenario (tests/reliability; default 4, "
                          "or REELFLOW_RELIABILITY_CLIPS)")
