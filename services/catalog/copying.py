"""Binary COPY of read-model rows: the projector's store and the benchmarks' read-model
loader write rows this way.

Binary, with each column's Postgres type given up front (`Copy.set_types`): psycopg then
picks each column's dumper once per COPY instead of once per value by its Python type,
and Postgres receives uuids and timestamps as their bytes instead of parsing text. On
the projection benchmark's rows: renditions 7-8 -> 4 Python-µs per row, timeline 5-6 -> 3-4,
and 3-4 fewer Postgres-µs per timeline row.

Two of the values the rows hold have no binary dumper by their Python type: ids are uuid
text (events carry them as strings), and jsonb values are Python objects written with the
catalog's own JSON encoder (`jsonb.dump_bytes`: datetimes, bytes, NaN). `use_row_dumpers`
registers dumpers for those two Postgres types that are used only when the type is given,
i.e. only by COPY with `set_types` (psycopg's `register_dumper(None, ...)`): nothing else
on the connection changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.pq import Format

from services.catalog.jsonb import dump_bytes

_UUID_OID = 2950
_JSONB_OID = 3802
_JSONB_VERSION = b"\x01"  # jsonb's binary format: a version byte, then the JSON text


class UuidTextBinaryDumper(Dumper):
    """A uuid column's value as its 16 bytes, from uuid text (or a `uuid.UUID`)."""

    format = Format.BINARY
    oid = _UUID_OID

    def dump(self, obj: Any) -> bytes:
        if isinstance(obj, str):
            raw = bytes.fromhex(obj.replace("-", "")) if len(obj) == 36 else b""
            # Anything but the canonical 36 characters (braces, a urn: prefix) is rare:
            # parsed in full, which also refuses what is not a uuid at all.
            return raw if len(raw) == 16 else uuid.UUID(obj).bytes
        return bytes(obj.bytes)


class JsonbObjectBinaryDumper(Dumper):
    """A jsonb column's value, a Python object, as the catalog's JSON (`jsonb`)."""

    format = Format.BINARY
    oid = _JSONB_OID

    def dump(self, obj: Any) -> bytes:
        return _JSONB_VERSION + dump_bytes(obj)


def use_row_dumpers(context: AdaptContext) -> None:
    """Register the two dumpers above on a connection (or cursor), by type only."""
    for dumper in (UuidTextBinaryDumper, JsonbObjectBinaryDumper):
        context.adapters.register_dumper(None, dumper)


def copy_sql(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))


#: A table's columns with their type oids, and whether each is in its primary key
#: (`TableShape.of` reads the answer). The table is named as the search path finds it.
TABLE_SHAPE = (
    "SELECT a.attname, a.atttypid::int, coalesce(a.attnum = ANY(i.indkey), false)"
    " FROM pg_attribute a LEFT JOIN pg_index i"
    " ON i.indrelid = a.attrelid AND i.indisprimary"
    " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum")


@dataclass(frozen=True)
class TableShape:
    types: dict[str, int]
    #: The primary key's columns, in table order.
    key: tuple[str, ...]

    @classmethod
    def of(cls, answer: Sequence[tuple[str, int, bool]]) -> TableShape:
        return cls({name: oid for name, oid, _ in answer},
                   tuple(name for name, _, in_key in answer if in_key))

    def oids(self, columns: Sequence[str]) -> list[int]:
        return [self.types[c] for c in columns]
