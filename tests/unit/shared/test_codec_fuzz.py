"""The Avro decoder, fuzzed: whatever bytes arrive on a topic, `decode` either returns a
typed event or raises the codec's coded `UndecodableRecord` (which the consume loop
dead-letters at once). It never raises anything else and never hangs.

The inputs are random bytes, random bodies behind a real header (magic and a known
fingerprint, so the body parser is reached), and valid records of every topic with bytes
flipped, cut short or extended. Examples are bounded and derandomized, so a run is
repeatable; a deadline per input turns a hang into a failure.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ALL_TOPICS
from services.shared.codec import MAGIC, EventCodec, UndecodableRecord, spec_fingerprint
from tests.avro_samples import sample

codec = EventCodec(ALL_TOPICS)
TOPICS = {topic.schema: topic for topic in ALL_TOPICS}.values()  # one per schema

#: Generous for a loaded 2-core machine; a decode takes microseconds, a hang never ends.
FUZZ = settings(max_examples=150, derandomize=True, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow], database=None)

#: The coded errors a consumer turns into a dead letter (the oracle: the codec's docs and
#: the dead-letter codes the README lists), written down here rather than read back.
DEAD_LETTER_CODES = {"undecodable", "not_avro", "unknown_fingerprint", "corrupt_record"}


def valid(topic) -> bytes:  # type: ignore[no-untyped-def]
    return codec.encode(topic, topic.event_type.from_record(sample(topic.latest.definition)))


def decodes_or_refuses(topic, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        event = codec.decode(topic, data)
    except UndecodableRecord as exc:
        assert exc.code in DEAD_LETTER_CODES
        assert str(exc)  # the dead letter's reason is a sentence, never empty
    else:
        assert type(event) is topic.event_type


topics = st.sampled_from(list(TOPICS))


@FUZZ
@given(topic=topics, data=st.binary(max_size=512))
def test_random_bytes_are_decoded_or_refused_with_a_code(topic, data) -> None:  # type: ignore[no-untyped-def]
    decodes_or_refuses(topic, data)


@FUZZ
@given(topic=topics, body=st.binary(max_size=512))
def test_random_bodies_behind_a_known_fingerprint_are_refused_with_a_code(topic, body) -> None:  # type: ignore[no-untyped-def]
    header = MAGIC + spec_fingerprint(topic.latest.definition)
    decodes_or_refuses(topic, header + body)


@FUZZ
@given(topic=topics, data=st.data())
def test_valid_records_with_bytes_flipped_are_decoded_or_refused(topic, data) -> None:  # type: ignore[no-untyped-def]
    record = bytearray(valid(topic))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(record) - 1),
                                         st.integers(1, 255)), min_size=1, max_size=8))
    for at, mask in flips:
        record[at] ^= mask
    decodes_or_refuses(topic, bytes(record))


@FUZZ
@given(topic=topics, data=st.data())
def test_valid_records_cut_short_are_refused(topic, data) -> None:  # type: ignore[no-untyped-def]
    record = valid(topic)
    cut = data.draw(st.integers(0, len(record) - 1))
    with pytest.raises(UndecodableRecord) as refused:
        codec.decode(topic, record[:cut])
    assert refused.value.code in DEAD_LETTER_CODES


@FUZZ
@given(topic=topics, tail=st.binary(min_size=1, max_size=256))
def test_valid_records_extended_are_refused(topic, tail) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UndecodableRecord) as refused:
        codec.decode(topic, valid(topic) + tail)
    assert refused.value.code == "corrupt_record"  # trailing bytes after the body


@pytest.mark.parametrize("topic", list(TOPICS), ids=lambda t: t.schema)
def test_the_untouched_records_decode(topic) -> None:  # type: ignore[no-untyped-def]
    """The control: the fuzzed inputs start from records the decoder does accept."""
    assert type(codec.decode(topic, valid(topic))) is topic.event_type
