"""`reelflow keys rotate-kek`: re-wrap every content key under the current key-encryption
key, without re-packaging anything (the segments are encrypted with the content keys, which
do not change; only their envelope does).

Rotation, step by step: set `REELFLOW_KEK` to the new KEK and `REELFLOW_KEK_PREVIOUS` to the
old one for the catalog and the packager (restart them), run this command with the same
two settings, then drop the old KEK from `REELFLOW_KEK_PREVIOUS`. Each re-wrapped key is a
new snapshot on the compacted `content-keys` topic (the packager is its one writer, and
this command is part of it); compaction then drops the old envelope.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import ALL_TOPICS, CONTENT_KEYS
from services.shared import telemetry
from services.shared.codec import EventCodec
from services.shared.content_keys import ContentKeyring
from services.shared.envelope import Keks, KeyUnavailable, kek_id
from services.shared.events import new_event_id, now
from services.shared.kafka_security import use_stack_credentials
from services.shared.producer import EventProducer
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)


async def rotate(common: CommonSettings) -> int:
    """How many keys were re-wrapped (those already under the current KEK are left)."""
    keks = Keks.from_settings(common)
    if keks.current is None:
        raise KeyUnavailable("set REELFLOW_KEK to the new key-encryption key")
    current = kek_id(keks.current)
    codec = EventCodec(ALL_TOPICS)
    ring, stop = ContentKeyring(common.kafka_bootstrap, codec), asyncio.Event()
    reading = asyncio.create_task(ring.run(stop))  # consume content-keys to the end
    try:
        await asyncio.wait_for(ring.caught_up.wait(), 60)
    finally:
        stop.set()
        await reading
    producer = EventProducer(common.kafka_bootstrap, codec, "packager-rotate-kek")
    await producer.start()
    done = 0
    try:
        for state in list(ring.table.by_kid.values()):
            if state.kek_id == current:
                continue
            wrapped_by, wrapped = keks.wrap(state.video_id, state.attempt, keks.unwrap(state))
            await producer.publish(CONTENT_KEYS, state.replace(
                event_id=new_event_id(), occurred_at=now(), kek_id=wrapped_by,
                wrapped_key=wrapped))
            done += 1
    finally:
        await producer.stop()
    log.info("re-wrapped %d content keys under KEK %s", done, current)
    return done


def _rotate_kek(_: argparse.Namespace) -> int:
    # The packager's principal (content-keys has one writer); by hand against the local
    # stack, its credentials come from the stack's file.
    use_stack_credentials(CONTENT_KEYS.writer)
    common = CommonSettings()
    telemetry.configure("keys", common.log_level, "none")
    try:
        count = asyncio.run(rotate(common))
    except KeyUnavailable as exc:
        print(f"reelflow keys rotate-kek: {exc}")
        return 2
    print(f"re-wrapped {count} content keys under the current KEK")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("keys", help="content keys: rotate the key-encryption key")
    commands = parser.add_subparsers(dest="keys_command", required=True)
    rotate_kek = commands.add_parser("rotate-kek", help="re-wrap every content key under "
                                     "REELFLOW_KEK (the old KEK in REELFLOW_KEK_PREVIOUS)",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    rotate_kek.set_defaults(func=_rotate_kek)
