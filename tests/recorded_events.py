"""Recorded events: single-object encoded Avro bytes written once with each released schema
version, kept in tests/unit/recorded_events/<schema>/v<N>.json beside the value written.

They are the evolution test's input: whatever the current reader is, it must decode what
every earlier version wrote. A recording is never rewritten (a changed recording would hide
a breaking change); `python -m tests.recorded_events` only adds the missing ones, when a
new schema version is released.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import ALL_TOPICS, schema_versions
from tests.avro_samples import sample

DIRECTORY = Path(__file__).resolve().parent / "unit" / "recorded_events"
SCHEMAS = sorted({t.schema for t in ALL_TOPICS})


def to_json(value: Any) -> Any:
    """JSON for a decoded Avro value; bytes and timestamps are tagged to come back exactly."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$timestamp": value.isoformat()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        if set(value) == {"$timestamp"}:
            return datetime.fromisoformat(value["$timestamp"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def recording_path(schema: str, version: int) -> Path:
    return DIRECTORY / schema / f"v{version}.json"


def load(schema: str, version: int) -> list[tuple[bytes, dict[str, Any]]]:
    """(bytes, the value written) of each recorded event of `schema` version `version`."""
    recorded = json.loads(recording_path(schema, version).read_text())
    return [(bytes.fromhex(r["hex"]), from_json(r["value"])) for r in recorded["events"]]


def _encode(definition: dict[str, Any], value: dict[str, Any]) -> bytes:
    parsed = fastavro.parse_schema(definition, _write_hint=False)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, value)
    header = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    return b"\xc3\x01" + header + body.getvalue()


def record_missing() -> list[Path]:
    """Write a recording for every schema version that has none; never touch the others."""
    written = []
    for schema in SCHEMAS:
        for version in schema_versions(schema):
            path = recording_path(schema, version.version)
            if path.exists():
                continue
            events = []
            # Every optional branch set, and every optional branch null.
            for pick_non_null in (True, False):
                value = sample(version.definition, pick_non_null=pick_non_null)
                events.append({"hex": _encode(version.definition, value).hex(),
                               "value": to_json(value)})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"schema": schema, "version": version.version,
                                        "events": events}, indent=1) + "\n")
            written.append(path)
    return written


if __name__ == "__main__":
    for path in record_missing():
        print(f"recorded {path.relative_to(DIRECTORY.parent.parent.parent)}")
