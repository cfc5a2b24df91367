"""The test slot: REELFLOW_TEST_SLOT shifts every port and the state dir, the environment is
set by a session fixture, and collecting the suite reads no settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.slot import ROOT, TEST_ENV, environment

PORT = re.compile(r"(?<![\d.])(\d{5})(?!\d)")


def ports(env: dict[str, str]) -> dict[str, list[int]]:
    return {name: [int(p) for p in PORT.findall(value)] for name, value in env.items()
            if PORT.search(value)}


def test_every_port_of_slot_3_is_slot_0s_plus_300_and_the_state_dir_is_its_own():
    base, shifted = ports(environment(0)), ports(environment(3))
    # Kafka, its controller, Postgres, S3 and SeaweedFS's three, both APIs, the transcode,
    # packager, captions, scoring and lane router metrics ports, Prometheus, the figures
    # app's port, the webhooks API's, and the catalog URL ingest calls.
    assert len(base) == 18
    assert shifted == {name: [p + 300 for p in values] for name, values in base.items()}
    assert environment(0)["REELFLOW_STATE_DIR"].endswith("/.reelflow-test")
    assert environment(3)["REELFLOW_STATE_DIR"].endswith("/.reelflow-test-3")
    assert environment(3)["REELFLOW_INGEST_IMPORT_ROOTS"].startswith(
        '["' + environment(3)["REELFLOW_STATE_DIR"])
    assert environment(0)["REELFLOW_ADMIN_KEY"] != environment(3)["REELFLOW_ADMIN_KEY"]


def test_no_two_slots_share_a_port():
    # Sixteen ports per slot (the catalog URL names the catalog's port again).
    per_slot = [{p for values in ports(environment(slot)).values() for p in values}
                for slot in range(10)]
    assert [len(taken) for taken in per_slot] == [17] * 10
    assert len(set().union(*per_slot)) == 17 * 10


def test_the_session_runs_with_the_slots_environment():
    assert {name: os.environ.get(name) for name in TEST_ENV} == TEST_ENV


GUARD = """
import os, sys, traceback
import pydantic_settings
import pytest

reads = []
original = pydantic_settings.BaseSettings.__init__

def recording(self, *args, **kwargs):
    reads.append(type(self).__name__ + "\\n" + "".join(traceback.format_stack(limit=8)))
    original(self, *args, **kwargs)

pydantic_settings.BaseSettings.__init__ = recording

class Guard:
    def pytest_collection_finish(self, session):
        leaked = sorted(n for n in os.environ if n.startswith("REELFLOW_")
                        and n != "REELFLOW_TEST_SLOT")
        print("LEAKED", leaked)
        print("READS", len(reads))
        for r in reads:
            print(r)

sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
                     plugins=[Guard()]))
"""


def test_collecting_the_whole_suite_reads_no_settings_and_sets_no_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    done = subprocess.run([sys.executable, "-c", GUARD], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**env, "REELFLOW_TEST_SLOT": "7"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "LEAKED []" in done.stdout, done.stdout[-3000:]
    assert "READS 0" in done.stdout, done.stdout[done.stdout.find("READS"):][:3000]
