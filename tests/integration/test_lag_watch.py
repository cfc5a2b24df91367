"""`reelflow lag --watch` against the real broker: each refresh reads the group again (a
record written between two frames shows in the second), a terminal gets the view redrawn in
place, and Ctrl-C ends the watch cleanly. The topic and group are this module's own, and
the expected offsets are the records the test itself wrote.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings
from tests.topics import create_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUN = uuid.uuid4().hex[:10]
TOPIC = f"lag-watch-{RUN}"
GROUP = f"lag-watch-{RUN}"
HEADING = re.compile(r"^reelflow lag --watch: refresh (\d+), every 2 s, (\d\d:\d\d:\d\d) UTC",
                     re.MULTILINE)
WATCH = [sys.executable, "-m", "services.cli", "lag", "--group", GROUP, "--watch"]


async def _send(producer: AIOKafkaProducer, count: int) -> None:
    for i in range(count):
        await producer.send_and_wait(TOPIC, f"record-{i}".encode(), partition=0)


async def _prepare(bootstrap: str) -> None:
    """One partition holding 5 records, of which the group committed 2 (lag 3)."""
    await create_topic(bootstrap, TOPIC, 1)
    async with AIOKafkaProducer(**client_options(),
                                bootstrap_servers=bootstrap, acks="all") as producer:
        await _send(producer, 5)
    async with AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap, group_id=GROUP,
                                enable_auto_commit=False) as consumer:
        consumer.assign([TopicPartition(TOPIC, 0)])
        await consumer.commit({TopicPartition(TOPIC, 0): 2})


@pytest.fixture(scope="module")
def group(common_settings: CommonSettings) -> str:
    asyncio.run(_prepare(common_settings.kafka_bootstrap))
    return GROUP


def frames(output: str) -> list[tuple[int, str, str]]:
    """(number, time, body) of each frame, in order."""
    heads = list(HEADING.finditer(output))
    ends = [h.start() for h in heads[1:]] + [len(output)]
    return [(int(h[1]), h[2], output[h.end():end]) for h, end in zip(heads, ends, strict=True)]


def row_and_total(body: str) -> tuple[list[str], str]:
    row = next(line.split()[:6] for line in body.splitlines() if line.startswith(GROUP))
    total = next(line for line in body.splitlines() if line.startswith("TOTAL LAG"))
    return row, total


def test_two_refreshes_read_the_group_twice(group: str,
                                            common_settings: CommonSettings) -> None:
    async def run() -> tuple[int, str, str]:
        # Started first, so the write between the frames is quick.
        async with AIOKafkaProducer(**client_options(),
                                    bootstrap_servers=common_settings.kafka_bootstrap,
                                    acks="all") as producer:
            await producer.client.force_metadata_update()
            proc = await asyncio.create_subprocess_exec(
                *WATCH, "--interval", "2", "--count", "2", env=dict(os.environ),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            seen = ""
            while "TOTAL LAG" not in seen:  # the first frame is complete
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                assert line, f"the watch ended before its first frame: {seen!r}"
                seen += line.decode()
            await _send(producer, 3)  # between the frames: the second must count them
            rest, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, seen + rest.decode(), err.decode()

    code, out, err = asyncio.run(run())
    assert code == 0, err
    shown = frames(out)
    assert [number for number, _, _ in shown] == [1, 2], out
    (_, first_at, first), (_, second_at, second) = shown
    assert row_and_total(first) == ([GROUP, TOPIC, "0", "2", "5", "3"],
                                    f"TOTAL LAG {GROUP}: 3 (state Empty, 0 live members)")
    assert row_and_total(second) == ([GROUP, TOPIC, "0", "2", "8", "6"],
                                     f"TOTAL LAG {GROUP}: 6 (state Empty, 0 live members)")
    gap = (datetime.strptime(second_at, "%H:%M:%S")
           - datetime.strptime(first_at, "%H:%M:%S")).total_seconds() % 86400
    assert 1 <= gap <= 10, (first_at, second_at)


def test_a_terminal_gets_the_view_redrawn_in_place(group: str) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*WATCH, "--interval", "2", "--count", "2"], stdin=follower,
                            stdout=follower, stderr=subprocess.PIPE,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "200",
                                 "LINES": "50"})
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the watch has ended
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 0, proc.stderr and proc.stderr.read()
    text = output.decode(errors="replace")
    first, second = text.index("refresh 1,"), text.index("refresh 2,")
    # Between the frames: erase a line, move the cursor up (rich's Live redrawing frame 1).
    assert "\x1b[2K" in text[first:second] and "\x1b[1A" in text[first:second], repr(text)
    assert f"TOTAL LAG {GROUP}:" in text[second:]


def test_ctrl_c_ends_the_watch_cleanly(group: str) -> None:
    proc = subprocess.Popen([*WATCH, "--interval", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    seen = ""
    while "TOTAL LAG" not in seen:
        line = proc.stdout.readline()
        assert line, f"the watch ended on its own: {seen!r} {proc.stderr.read()!r}"
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
