"""The test slot: the ports, state directory and environment of one test session.

REELFLOW_TEST_SLOT (0-9) shifts every port and the state dir, so several test sessions can
run side by side on one machine without sharing a stack. These are plain values: the
session fixture in tests/conftest.py puts them into the environment once the session
starts, so importing or collecting a test module never changes (or depends on) settings.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def slot_number() -> int:
    return int(os.environ.get("REELFLOW_TEST_SLOT", "0"))


def state_dir(slot: int) -> Path:
    return ROOT / (".reelflow-test" if slot == 0 else f".reelflow-test-{slot}")


def environment(slot: int) -> dict[str, str]:
    """The session's settings for `slot`."""
    state = state_dir(slot)

    def port(base: int) -> str:
        return str(base + 100 * slot)

    # Ports below Linux's ephemeral range (32768-60999), so an outgoing connection can never
    # hold one; SeaweedFS also binds each of its ports + 10000 for gRPC.
    return {
        "REELFLOW_STATE_DIR": str(state),
        "REELFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{port(24092)}",
        "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": port(24093),
        "REELFLOW_PG_DSN": f"host=127.0.0.1 port={port(24432)} dbname=reelflow user=reelflow",
        "REELFLOW_S3_ENDPOINT": f"http://127.0.0.1:{port(21333)}",
        "REELFLOW_STACK_WEED_MASTER_PORT": port(21334),
        "REELFLOW_STACK_WEED_VOLUME_PORT": port(21080),
        "REELFLOW_STACK_WEED_FILER_PORT": port(21888),
        "REELFLOW_STACK_PROMETHEUS_PORT": port(24090),
        "REELFLOW_INGEST_PORT": port(24001),
        "REELFLOW_CATALOG_PORT": port(24000),
        "REELFLOW_INGEST_CATALOG_URL": f"http://127.0.0.1:{port(24000)}",
        "REELFLOW_TRANSCODE_METRICS_PORT": port(24002),
        "REELFLOW_PACKAGER_METRICS_PORT": port(24003),
        "REELFLOW_FIGURES_PORT": port(24004),
        "REELFLOW_CAPTIONS_METRICS_PORT": port(24005),
        "REELFLOW_WEBHOOKS_PORT": port(24006),
        # The tests' receivers listen on 127.0.0.1 only (so 127.0.0.2 is still refused as
        # loopback), and retries come on a test-scale schedule (tests/integration/
        # test_webhooks.py).
        "REELFLOW_WEBHOOKS_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "REELFLOW_WEBHOOKS_RETRY_SCHEDULE_S": "[0.5, 1.0, 2.0, 4.0]",
        "REELFLOW_WEBHOOKS_LEASE_S": "15",
        "REELFLOW_SCORING_METRICS_PORT": port(24007),
        # Tests write rendition-done events for packages that never come; the scorer gives
        # up on those soon instead of holding its slot for 10 minutes.
        "REELFLOW_SCORING_PACKAGE_WAIT_S": "30",
        "REELFLOW_ROUTER_METRICS_PORT": port(24008),
        # The session's workers read video-uploaded directly (the topology the suite's
        # older tests pin: dead letters and offsets of group `transcode` on it), so the
        # stack starts no router; tests/integration/test_lanes.py switches the session's
        # stack to the lanes (router + lane workers) for its own tests and back.
        "REELFLOW_TRANSCODE_LANES": "false",
        "REELFLOW_LOG_LEVEL": "INFO",
        # The console's lag samples and status window, short so a test sees STOP and OK
        # come and go in seconds (tests/integration/test_console.py).
        "REELFLOW_CATALOG_CONSOLE_SAMPLE_S": "2",
        "REELFLOW_CATALOG_CONSOLE_WINDOW_S": "10",
        "REELFLOW_CATALOG_CONSOLE_STUCK_FLOOR_S": "3",
        # Expired tus uploads swept every second (tests/integration/test_uploads.py).
        "REELFLOW_INGEST_UPLOAD_SWEEP_S": "1",
        "REELFLOW_INGEST_IMPORT_ROOTS": f'["{state / "imports"}"]',
        # The session's admin key (see tests/access.py); a test's own stack may use another.
        "REELFLOW_ADMIN_KEY": f"reelflow-test-admin-{slot}",
    }


SLOT = slot_number()
TEST_STATE = state_dir(SLOT)
TEST_ENV = environment(SLOT)
INGEST_URL = f"http://127.0.0.1:{TEST_ENV['REELFLOW_INGEST_PORT']}"
CATALOG_URL = f"http://127.0.0.1:{TEST_ENV['REELFLOW_CATALOG_PORT']}"
WEBHOOKS_URL = f"http://127.0.0.1:{TEST_ENV['REELFLOW_WEBHOOKS_PORT']}"
