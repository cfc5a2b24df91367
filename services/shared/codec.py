"""Avro single-object encoding of Reelflow events, exactly as the Avro spec defines it.

Wire format: `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form, then the Avro binary body. Any Avro library can read and
write these with nothing but `schemas/` in hand.

Events are the typed classes of `schemas.events`: `encode` takes an instance of the
topic's class, `decode` returns one.

The decoder finds the writer schema by fingerprint among every released version of the
topic's schema and resolves it into the latest version (BACKWARD compatibility).

Apache Avro for Python (1.12.x) computes the canonical form of logical types as
`{"type": "long"}` instead of `"long"`, so its fingerprints differ from the spec for any
schema with a logical type. Producers using it are first-class, so each known schema is
also registered under that variant's fingerprint. We always *write* the spec fingerprint.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import SchemaVersion, Topic
from schemas.events import Record
from services.shared.avro_reader import Reader, Unsupported, compile_reader

E = TypeVar("E", bound=Record)

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8


class UndecodableRecord(Exception):
    """The bytes are not a Reelflow event. Never retried; dead-lettered at once."""

    code = "undecodable"


class NotAvroSingleObject(UndecodableRecord):
    code = "not_avro"


class UnknownFingerprint(UndecodableRecord):
    code = "unknown_fingerprint"


class CorruptBody(UndecodableRecord):
    code = "corrupt_record"


class InvalidEvent(ValueError):
    """A record a service tried to write does not match its schema (a bug, not input)."""


def spec_fingerprint(definition: dict[str, Any]) -> bytes:
    pcf = to_parsing_canonical_form(fastavro.parse_schema(definition, _write_hint=False))
    return bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO"))


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _objectify_logical(original: Any, canonical: Any) -> Any:
    """Walk a schema and its canonical form side by side, wrapping logical types as objects."""
    if isinstance(original, list):
        return [_objectify_logical(o, c) for o, c in zip(original, canonical, strict=True)]
    if not isinstance(original, dict):
        return canonical
    kind = original.get("type")
    if isinstance(kind, (dict, list)):
        return _objectify_logical(kind, canonical)
    if "logicalType" in original and kind in _PRIMITIVES:
        return {"type": canonical}
    if kind in ("record", "error"):
        fields = [
            {**cf, "type": _objectify_logical(of["type"], cf["type"])}
            for of, cf in zip(original["fields"], canonical["fields"], strict=True)
        ]
        return {**canonical, "fields": fields}
    if kind == "array":
        return {**canonical, "items": _objectify_logical(original["items"], canonical["items"])}
    if kind == "map":
        return {**canonical, "values": _objectify_logical(original["values"], canonical["values"])}
    return canonical


def apache_avro_py_fingerprint(definition: dict[str, Any]) -> bytes:
    """Fingerprint as Apache Avro for Python 1.12 computes it (see module docstring)."""
    parsed = fastavro.parse_schema(definition, _write_hint=False)
    pcf = json.loads(to_parsing_canonical_form(parsed))
    text = json.dumps(_objectify_logical(definition, pcf), separators=(",", ":"))
    return bytes.fromhex(fingerprint(text, "CRC-64-AVRO"))


@dataclass(frozen=True)
class _Writer:
    version: SchemaVersion
    parsed: Any
    #: For the latest version only: the schema with its uuid fields as plain strings, read
    #: without resolution (nothing to resolve when writer and reader are equal). Building
    #: a `uuid.UUID` per id only to turn it back into text was a fifth of decoding.
    plain: Any = None
    #: That schema's reader compiled from the bytes (`avro_reader`; None: a type it does
    #: not compile, so fastavro reads it): 0.6-0.7 of fastavro's time on the projection
    #: benchmark's events.
    compiled: Reader | None = None


def _is_uuid(kind: Any) -> bool:
    return isinstance(kind, dict) and kind.get("logicalType") == "uuid"


def _uuid_fields(definition: dict[str, Any]) -> tuple[str, ...]:
    """Top-level fields that fastavro reads as `uuid.UUID` (plain or nullable)."""
    found = []
    for f in definition["fields"]:
        branches = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if any(_is_uuid(b) for b in branches):
            found.append(f["name"])
    return tuple(found)


def _plain_uuids(definition: dict[str, Any]) -> dict[str, Any]:
    """The schema with its top-level uuid fields read as strings (same wire format)."""
    def plain(kind: Any) -> Any:
        if isinstance(kind, list):
            return [plain(b) for b in kind]
        return kind["type"] if _is_uuid(kind) else kind
    return {**definition, "fields": [{**f, "type": plain(f["type"])}
                                     for f in definition["fields"]]}


def _compiled(plain: Any) -> Reader | None:
    if plain is None:
        return None
    try:
        return compile_reader(plain)
    except Unsupported:
        return None


#: What `str(uuid.UUID(...))` returns; any other spelling is normalised (or refused) by it.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _canonical_ids(record: dict[str, Any], uuids: tuple[str, ...]) -> None:
    """The check fastavro's uuid reader would have made, for ids read as plain text:
    any other spelling normalised by `uuid.UUID` (or refused: ValueError)."""
    for name in uuids:
        value = record.get(name)
        if value is not None and not _CANONICAL_UUID.fullmatch(value):
            record[name] = str(uuid.UUID(value))


def _ended_with_data(topic: Topic, end: int, size: int) -> None:
    """Refuse a body that did not end where the record's data did."""
    if end < size:
        raise CorruptBody(
            f"record on {topic.name} has {size - end} trailing bytes after the Avro body")
    if end > size:
        raise CorruptBody(f"record on {topic.name} has a corrupt Avro body: it ends "
                          f"{end - size} bytes past the data")


class EventCodec:
    """Encodes and decodes the events of every topic in the registry."""

    def __init__(self, topics: tuple[Topic, ...]) -> None:
        self._latest: dict[str, tuple[bytes, Any]] = {}
        self._writers: dict[str, dict[bytes, _Writer]] = {}
        self._uuids: dict[str, tuple[str, ...]] = {}
        for topic in topics:
            if topic.schema in self._writers:
                continue
            by_fp: dict[bytes, _Writer] = {}
            for version in topic.versions:
                parsed = fastavro.parse_schema(version.definition)
                plain = (fastavro.parse_schema(_plain_uuids(version.definition))
                         if version == topic.latest else None)
                writer = _Writer(version, parsed, plain, _compiled(plain))
                by_fp.setdefault(spec_fingerprint(version.definition), writer)
                by_fp.setdefault(apache_avro_py_fingerprint(version.definition), writer)
            latest = topic.latest
            self._latest[topic.schema] = (
                spec_fingerprint(latest.definition),
                fastavro.parse_schema(latest.definition),
            )
            self._writers[topic.schema] = by_fp
            self._uuids[topic.schema] = _uuid_fields(latest.definition)

    def encode(self, topic: Topic[E], event: E) -> bytes:
        if isinstance(event, topic.event_type):
            record = event.to_record()
        else:
            raise InvalidEvent(f"{topic.name} carries {topic.event_type.__name__} events, "
                               f"not {type(event).__name__}")
        fp, parsed = self._latest[topic.schema]
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(fp)
        try:
            fastavro.schemaless_writer(buf, parsed, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidEvent(f"{topic.name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, topic: Topic[E], data: bytes | None) -> E:
        return topic.event_type.from_record(self.decode_record(topic, data))

    def decode_record(self, topic: Topic[Any], data: bytes | None) -> dict[str, Any]:
        """The record as fastavro reads it (ids as text), before it becomes an event."""
        if data is None or len(data) < HEADER_LEN or data[:2] != MAGIC:
            head = b"" if data is None else data[:2]
            raise NotAvroSingleObject(
                f"record on {topic.name} is not Avro single-object encoded "
                f"(expected magic C3 01, got {head.hex() or 'nothing'})"
            )
        fp = data[2:HEADER_LEN]
        writer = self._writers[topic.schema].get(fp)
        if writer is None:
            raise UnknownFingerprint(
                f"record on {topic.name} was written with an unknown schema "
                f"(fingerprint {fp.hex()}); known versions: "
                f"{sorted({w.version.version for w in self._writers[topic.schema].values()})}"
            )
        uuids = self._uuids[topic.schema]
        if writer.compiled is not None:
            try:
                record, end = writer.compiled(data, HEADER_LEN)
                _canonical_ids(record, uuids)
            except Exception as exc:  # IndexError, ValueError, UnicodeDecodeError...
                raise CorruptBody(
                    f"record on {topic.name} has a corrupt Avro body: {exc!r}") from exc
            _ended_with_data(topic, end, len(data))
            return cast(dict[str, Any], record)
        reader = self._latest[topic.schema][1]
        body = io.BytesIO(data)  # shares the buffer; a slice would copy the body
        body.seek(HEADER_LEN)
        try:
            if writer.plain is not None:
                record = cast(dict[str, Any], fastavro.schemaless_reader(body, writer.plain))
                _canonical_ids(record, uuids)
            else:
                record = cast(dict[str, Any],
                              fastavro.schemaless_reader(body, writer.parsed, reader))
                # Logical uuid fields come back as uuid.UUID; events carry ids as text.
                for name in uuids:
                    value = record.get(name)
                    if isinstance(value, uuid.UUID):
                        record[name] = str(value)
        except Exception as exc:  # fastavro raises many types on truncated/corrupt bodies
            raise CorruptBody(f"record on {topic.name} has a corrupt Avro body: {exc!r}") from exc
        _ended_with_data(topic, body.tell(), len(data))
        return record
