"""While Kafka is not up yet, a service's console shows Reelflow's one waiting line, not
aiokafka's ERROR per refused connection; aiokafka's errors still show once the wait is over.

A real producer against a closed port, in a child process logging as a service does.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import asyncio, sys
from schemas import ALL_TOPICS
from services.shared import telemetry
from services.shared.codec import EventCodec
from services.shared.lifecycle import DependencyUnavailable, wait_for_kafka
from services.shared.producer import EventProducer

telemetry.configure("quiet-start", "INFO", "none")

async def main():
    producer = EventProducer(sys.argv[1], EventCodec(ALL_TOPICS), "quiet-start")
    try:
        await wait_for_kafka(producer.bootstrap, producer.start, 3.0)
    except DependencyUnavailable:
        print("MARK gave up waiting", file=sys.stderr, flush=True)
    try:  # outside the wait: aiokafka's own error must reach the console again
        await producer.start()
    except Exception:
        pass

asyncio.run(main())
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_waiting_for_kafka_shows_one_reelflow_line_and_no_aiokafka_noise() -> None:
    where = f"127.0.0.1:{_closed_port()}"
    done = subprocess.run([sys.executable, "-c", CHILD, where], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    during, mark, after = done.stderr.partition("MARK gave up waiting")
    assert mark, done.stderr
    said, later = _messages(during), _messages(after)
    assert [m for m in said if m[0] == "info"] == [
        ("info", "services.shared.lifecycle", f"waiting for Kafka at {where} (up to 3 s)")]
    assert not [m for m in said if m[1].startswith("aiokafka")], said
    assert any(level == "error" and logger == "aiokafka"
               and msg.startswith(f'Unable connect to "{where}"')
               for level, logger, msg in later), later


def _messages(stderr: str) -> list[tuple[str, str, str]]:
    """(level, logger, message) of every JSON log line."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [(e["level"], e["logger"], e["msg"]) for e in lines]


DEMO_WAIT = """
import sys
from pathlib import Path
from services.demo import show_progress_logs
from services.shared.settings import CommonSettings
from services.stack.kafka import StackError
from services.stack.local import LocalStack
from services.stack.settings import StackSettings

show_progress_logs()
common = CommonSettings(kafka_bootstrap=sys.argv[1], state_dir=Path(sys.argv[2]))
stack = LocalStack(StackSettings(common=common, start_timeout_s=3))
stack.kafka.process.start(["sleep", "60"])  # "Kafka" runs, but nothing listens yet
try:
    stack._wait_healthy(stack.kafka)
except StackError:
    print("MARK gave up waiting", file=sys.stderr, flush=True)
finally:
    stack.kafka.process.stop(1)
"""


def test_the_demo_console_shows_the_stack_waiting_for_kafka_without_aiokafka_noise(
        tmp_path: Path) -> None:
    where = f"127.0.0.1:{_closed_port()}"
    done = subprocess.run([sys.executable, "-c", DEMO_WAIT, where, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert "MARK gave up waiting" in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert lines.count(f"waiting for kafka at {where}") == 1, done.stderr
    assert not [line for line in lines if "Unable connect" in line], done.stderr
