"""Scenario 3, infrastructure faults: the Kafka broker, PostgreSQL and the S3 gateway are
each restarted while clips are in flight. Afterwards nothing is lost (every accepted clip
ends `ready`), nothing is duplicated (one package, one rendition set, one
`video-transcoded` per clip) and every output is whole."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.shared.settings import CommonSettings
from tests.polling import wait_until
from tests.reliability.harness import audit, clips, statuses, submit_all, wait_terminal
from tests.reliability.summary import Row, record

pytestmark = pytest.mark.integration

FAULTS = ("kafka", "postgres", "s3")


def in_flight(common: CommonSettings, ids: list[str]) -> bool:
    """Some clip of the batch is past upload and not yet ready: the fault lands mid-run."""
    return any(row["status"] in ("transcoding", "packaging")
               for row in statuses(common, ids).values())


def test_restarting_kafka_postgres_and_s3_mid_run_loses_and_duplicates_nothing(
        two_workers: Any, common_settings: CommonSettings, clip_count: int,
        tmp_path: Path) -> None:
    per_fault = max(1, clip_count // 3)
    started = time.monotonic()
    ids: list[str] = []
    restarts: dict[str, float] = {}
    for n, fault in enumerate(FAULTS):
        batch = submit_all(clips(tmp_path, per_fault, fps=30, first=per_fault * n),
                           f"fault {fault}")
        ids += batch
        wait_until(lambda b=batch: in_flight(common_settings, b), f"a clip in flight before"
                   f" the {fault} restart", 300, every=0.5)
        t0 = time.monotonic()
        two_workers.restart(fault)
        restarts[fault] = time.monotonic() - t0
    final = wait_terminal(common_settings, ids, 300 + 90 * len(ids))
    seconds = time.monotonic() - started
    found = audit(common_settings, ids)
    ready = sum(s == "ready" for s in final.values())
    record(Row("infrastructure faults", len(ids), ready,
               sum(s not in ("ready", "failed", "cancelled") for s in final.values()),
               len(found.duplicated), seconds,
               "restarted mid-run: " + ", ".join(f"{k} ({v:.0f} s down)"
                                                  for k, v in restarts.items())))

    assert ready == len(ids), final
    assert not found.duplicated, found.duplicated
    assert not found.broken, found.broken
