"""Avro single-object encoding of Reelflow events, exactly as the Avro spec defines it.

Wire format: `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form, then the Avro binary body. Any Avro library can read and
write these with nothing but `schemas/` in hand.

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
import uuid
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import SchemaVersion, Topic

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


class EventCodec:
    """Encodes and decodes the events of every topic in the registry."""

    def __init__(self, topics: tuple[Topic, ...]) -> None:
        self._latest: dict[str, tuple[bytes, Any]] = {}
        self._writers: dict[str, dict[bytes, _Writer]] = {}
        for topic in topics:
            if topic.schema in self._writers:
                continue
            by_fp: dict[bytes, _Writer] = {}
            for version in topic.versions:
                parsed = fastavro.parse_schema(version.definition)
                writer = _Writer(version, parsed)
                by_fp.setdefault(spec_fingerprint(version.definition), writer)
                by_fp.setdefault(apache_avro_py_fingerprint(version.definition), writer)
            latest = topic.latest
            self._latest[topic.schema] = (
                spec_fingerprint(latest.definition),
                fastavro.parse_schema(latest.definition),
            )
            self._writers[topic.schema] = by_fp

    def encode(self, topic: Topic, record: dict[str, Any]) -> bytes:
        fp, parsed = self._latest[topic.schema]
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(fp)
        try:
            fastavro.schemaless_writer(buf, parsed, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidEvent(f"{topic.name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, topic: Topic, data: bytes | None) -> dict[str, Any]:
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
        reader = self._latest[topic.schema][1]
        body = io.BytesIO(data[HEADER_LEN:])
        try:
            record = fastavro.schemaless_reader(body, writer.parsed, reader)
        except Exception as exc:  # fastavro raises many types on truncated/corrupt bodies
            raise CorruptBody(f"record on {topic.name} has a corrupt Avro body: {exc!r}") from exc
        if body.tell() != len(data) - HEADER_LEN:
            raise CorruptBody(
                f"record on {topic.name} has {len(data) - HEADER_LEN - body.tell()} "
                "trailing bytes after the Avro body"
            )
        # Logical uuid fields come back as uuid.UUID; events carry ids as plain strings.
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in record.items()}
