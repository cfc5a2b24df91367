"""The dead-letter record: the `dead-letter` event for a record a consumer gave up on, and
its provenance headers in Kafka Connect's and Spring Kafka's conventions."""

from __future__ import annotations

import contextlib
import traceback
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from schemas.events import DeadLetter, Header
from services.shared.events import derived_event_id, now

#: Header a redrive sets on the copy it republishes (see `shared.dead_letter_log`).
REDRIVE_COUNT = "reelflow-redrive-count"


def redrive_count(headers: Any) -> int:
    """How often the record was redriven already (0 for an original)."""
    count = 0
    for key, value in headers or ():
        if key == REDRIVE_COUNT and value:
            with contextlib.suppress(ValueError):
                count = int(value.decode())
    return count


def dead_letter_id(topic: str, partition: int, offset: int, group: str, redrives: int) -> str:
    """The dead letter's event id: per record, per group and per redrive. Two groups
    dead-lettering the same record are two distinct facts (the catalog must keep both),
    while the same group dead-lettering it again after a crash is the same fact."""
    return derived_event_id(f"{topic}/{partition}/{offset}", group, "dead-lettered", redrives)


def error_class(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"


def dead_letter_event(record: ConsumerRecord[bytes, bytes], group: str, code: str,
                      error: BaseException, attempts: int, video_id: str | None) -> DeadLetter:
    redrives = redrive_count(record.headers)
    stamp = record.timestamp
    return DeadLetter(
        event_id=dead_letter_id(record.topic, record.partition, record.offset, group, redrives),
        video_id=video_id,
        occurred_at=now(),
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_timestamp=datetime.fromtimestamp(stamp / 1000, UTC) if stamp and stamp > 0
        else None,
        original_key=record.key,
        original_value=record.value,
        original_headers=tuple(Header(key=k, value=v) for k, v in (record.headers or ())),
        consumer_group=group,
        error_code=code,
        error_class=error_class(error),
        error_message=str(error) or repr(error),
        stacktrace="".join(traceback.format_exception(error))[-8000:],
        attempts=attempts,
        redrive_count=redrives,
    )


def dead_letter_headers(record: ConsumerRecord[bytes, bytes], group: str, code: str,
                        error: BaseException) -> list[tuple[str, bytes]]:
    """Provenance headers in both Kafka Connect's and Spring Kafka's conventions."""
    fqcn = error_class(error)
    message = (str(error) or repr(error))[:2000]
    pairs = {
        "__connect.errors.topic": record.topic,
        "__connect.errors.partition": str(record.partition),
        "__connect.errors.offset": str(record.offset),
        "__connect.errors.exception.class.name": fqcn,
        "__connect.errors.exception.message": message,
        "kafka_dlt-original-topic": record.topic,
        "kafka_dlt-original-partition": str(record.partition),
        "kafka_dlt-original-offset": str(record.offset),
        "kafka_dlt-original-timestamp": str(record.timestamp),
        "kafka_dlt-original-consumer-group": group,
        "kafka_dlt-exception-fqcn": fqcn,
        "kafka_dlt-exception-message": message,
        "reelflow-error-code": code,
    }
    return [(k, v.encode()) for k, v in pairs.items()]
