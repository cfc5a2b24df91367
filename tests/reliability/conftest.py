"""Fixtures of the fault-injection suite: the session's pipeline with a second transcode
worker process, the clip count (`--clips`, default 4 in CI; `./run reliability` uses 100),
and the summary table at the end of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.polling import wait_until
from tests.reliability.summary import ROWS, table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def clip_count(request: pytest.FixtureRequest) -> int:
    option = request.config.getoption("--clips")
    return int(option or os.environ.get("REELFLOW_RELIABILITY_CLIPS") or 4)


@pytest.fixture(scope="package")
def two_workers(pipeline: Any) -> Iterator[Any]:
    """The session stack, seen with `transcode_workers=2`: `transcode-2` joins the group
    for this suite and leaves after it."""
    from services.stack import LocalStack, StackSettings

    stack = LocalStack(StackSettings(transcode_workers=2))
    stack.up()
    worker = stack.component("transcode-2")
    # Scenarios start once it is a member of the group (it got partitions to work on).
    wait_until(lambda: "'video-uploaded/" in worker.process.log_file.read_text(errors="replace"),
               "transcode-2 joined the group", 180)
    yield stack
    stack.component("transcode-2").stop()


#: The scenarios in the issue's order; replay last, over everything the others wrote.
ORDER = ("test_load_with_crashes", "test_poison_pills", "test_infrastructure_faults",
         "test_replay")


def _scenario(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slots = [i for i, item in enumerate(items) if _scenario(item) in ORDER]
    # pytest-timeout's 600 s per test is too short for a full-size run: scale it.
    clips = config.getoption("--clips") or int(os.environ.get("REELFLOW_RELIABILITY_CLIPS", 4))
    for i in slots:
        items[i].add_marker(pytest.mark.timeout(900 + 60 * clips))
    ordered = sorted((items[i] for i in slots), key=lambda item: ORDER.index(_scenario(item)))
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "reliability summary")
        terminalreporter.write_line(table(ROWS))
