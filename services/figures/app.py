"""The faust app: consumes the pipeline topics, keeps the windowed figures in tables.

Three tables, each rebuilt from its compacted changelog topic at start (the registry
declares them):
- owners: video_id -> the tenant and upload time its video-uploaded named;
- windows: one slice per (scheme, window, source partition, tenant) of the video topics;
- dead letters: the same for the dead-letter topic (it has other partitions).

Records are read as raw bytes and decoded with Reelflow's own codec. A record that does not
decode is counted and skipped: the catalog already dead-letters it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.types import EventT, StreamT, TableT
from faust.types.auth import CredentialsT

import schemas
from schemas import DEAD_LETTER, Topic, topic_by_name
from schemas.events import Record, VideoUploaded
from schemas.registry import Changelog
from services.figures import view
from services.figures.export import UNDECODABLE
from services.figures.figures import Contribution, Owner, Slice, absorb
from services.figures.observe import VIDEO_TOPICS, contribution, owner_of, video_id_of
from services.figures.settings import FiguresSettings
from services.figures.windows import SCHEMES, WindowKey, expired_keys
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.kafka_security import client_options

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


def faust_credentials(options: dict[str, Any]) -> CredentialsT | None:
    """The shared security options as faust's credentials (it hands them to aiokafka)."""
    if options["security_protocol"].startswith("SASL_"):
        return faust.SASLCredentials(username=options["sasl_plain_username"],
                                     password=options["sasl_plain_password"],
                                     mechanism=options["sasl_mechanism"],
                                     ssl_context=options.get("ssl_context"))
    if options["security_protocol"] == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


class FiguresApp:
    def __init__(self, settings: FiguresSettings) -> None:
        self.settings = settings
        self.codec = EventCodec(schemas.ALL_TOPICS)
        self.app = faust.App(
            settings.group_id,
            broker=f"kafka://{settings.common.kafka_bootstrap}",
            broker_credentials=faust_credentials(client_options(settings.common)),
            store="memory://",
            datadir=str(settings.data_dir),
            key_serializer="raw", value_serializer="raw",
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=settings.commit_interval_s,
            # A SIGKILLed member holds its partitions until its session times out.
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=settings.session_timeout_s / 4,
            # Every topic, changelogs included, is created by the stack from the registry.
            topic_allow_declare=False, topic_disable_leader=True,
            web_enabled=True, web_bind=settings.host, web_port=settings.port,
            web_host=settings.host,
        )
        self.owners = self._table("owners", schemas.FIGURES_OWNERS)
        self.windows = self._table("windows", schemas.FIGURES_WINDOWS)
        self.dead_letters = self._table("dead-letters", schemas.FIGURES_DEAD_LETTERS)
        self._swept: dict[tuple[str, int], float] = {}
        self.app.agent(self._source(VIDEO_TOPICS), name="video-figures")(self._video_events)
        self.app.agent(self._source((DEAD_LETTER,)), name="dead-letter-figures")(
            self._dead_letter_events)

    def _source(self, topics: tuple[Topic, ...]) -> faust.TopicT:
        return self.app.topic(*(t.name for t in topics), key_serializer="raw",
                              value_serializer="raw")

    def _table(self, name: str, changelog: Changelog) -> TableT:
        return self.app.Table(
            # key_type str and value_type dict: faust keeps both as JSON in the changelog.
            name, partitions=changelog.partitions, key_type=str, value_type=dict,
            changelog_topic=self.app.topic(changelog.name, partitions=changelog.partitions,
                                           compacting=True, key_serializer="json",
                                           value_serializer="json"),
        )

    # --- consuming -------------------------------------------------------------------------

    async def _video_events(self, stream: StreamT) -> None:
        async for event in stream.events():
            decoded = self._decode(event)
            if decoded is None:
                continue
            video_id = video_id_of(decoded)
            if isinstance(decoded, VideoUploaded):
                self.owners[video_id] = owner_of(decoded).to_json()
            known = self.owners.get(video_id)
            owner = Owner.from_json(known) if known else None
            self._absorb(self.windows, event, contribution(decoded, owner))

    async def _dead_letter_events(self, stream: StreamT) -> None:
        async for event in stream.events():
            decoded = self._decode(event)
            if decoded is not None:
                self._absorb(self.dead_letters, event, contribution(decoded, None))

    def _decode(self, event: EventT) -> Record | None:
        topic = event.message.topic
        try:
            return self.codec.decode(topic_by_name(topic), event.value)
        except UndecodableRecord as exc:
            UNDECODABLE.labels(topic, exc.code).inc()
            log.warning("skipped an undecodable record at %s/%d@%d (%s)", topic,
                        event.message.partition, event.message.offset, exc.code)
            return None

    def _absorb(self, table: TableT, event: EventT, change: Contribution) -> None:
        message, now = event.message, _now_ms()
        for scheme in SCHEMES:
            for start in scheme.live_starts(change.occurred_at, now):
                key = WindowKey(scheme.name, start, message.partition, change.tenant).text()
                updated = absorb(Slice.from_json(table.get(key)), change, message.topic,
                                 message.offset)
                if updated is not None:  # None: absorbed before a crash, read again now
                    table[key] = updated.to_json()
        self._sweep(table, message.partition, now)

    def _sweep(self, table: TableT, partition: int, now: int) -> None:
        """Delete this partition's expired windows (a tombstone on its changelog partition).

        Runs while handling a record of that partition: faust writes a table change to the
        changelog partition of the record being handled, which is where the key lives."""
        last = self._swept.get((table.name, partition), 0.0)
        if time.monotonic() - last < self.settings.sweep_interval_s:
            return
        self._swept[(table.name, partition)] = time.monotonic()
        for text in expired_keys(list(table.keys()), partition, now):
            del table[text]

    # --- reading ---------------------------------------------------------------------------

    def recovered(self) -> bool:
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        return bool(recovery.completed.is_set())

    def view(self, now_ms: int | None = None) -> dict[str, Any]:
        now = _now_ms() if now_ms is None else now_ms
        return view.windows(list(self.windows.items()), list(self.dead_letters.items()), now)

    def shown(self) -> dict[str, Any]:
        now = _now_ms()
        return view.current(self.view(now), now)
