"""Keyset (cursor) pagination: an opaque cursor carries the sort key of the last row seen.

A cursor is base64url of a JSON array `[scope, sort, order, key values...]`; using it
with another scope, sort or order is refused, because its values would mean nothing there.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

Order = Literal["asc", "desc"]


class BadCursor(ValueError):
    """The cursor was not made by this API for this listing."""


@dataclass(frozen=True)
class SortKey:
    """An ordered list of (SQL expression, SQL type) whose last element is unique."""

    name: str
    parts: tuple[tuple[sql.Composable, str], ...]

    def expressions(self) -> list[sql.Composable]:
        return [expr for expr, _ in self.parts]

    def order_by(self, order: Order) -> sql.Composed:
        direction = sql.SQL(" DESC" if order == "desc" else " ASC")
        return sql.SQL(", ").join(sql.Composed([e, direction]) for e in self.expressions())

    def after(self, order: Order) -> sql.Composed:
        """`(k1, k2, ...) > (%s::t1, %s::t2, ...)`: rows past the cursor (row comparison)."""
        keys = sql.SQL(", ").join(self.expressions())
        params = sql.SQL(", ").join(
            sql.SQL("%s::{}").format(sql.SQL(kind)) for _, kind in self.parts)
        op = sql.SQL("<" if order == "desc" else ">")
        return sql.SQL("({}) {} ({})").format(keys, op, params)

    def selected(self) -> sql.Composed:
        """The key values as text columns `_k0, _k1, ...` to build the next cursor from.

        Text, because Postgres reads its own text form back exactly (microseconds, and the
        `infinity` that sorts unfinished videos last, which Python's datetime cannot hold).
        """
        return sql.SQL(", ").join(
            sql.SQL("({})::text AS {}").format(e, sql.Identifier(f"_k{i}"))
            for i, e in enumerate(self.expressions()))

    def values_of(self, row: dict[str, Any]) -> list[Any]:
        return [row[f"_k{i}"] for i in range(len(self.parts))]


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float, str)) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)  # uuid.UUID


def encode_cursor(scope: str, sort: str, order: Order, values: list[Any]) -> str:
    text = json.dumps([scope, sort, order, *map(_plain, values)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str, sort: str, order: Order, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise BadCursor("cursor is not one this API issued") from exc
    if not isinstance(decoded, list) or len(decoded) != 3 + size:
        raise BadCursor("cursor is not one this API issued")
    if decoded[:3] != [scope, sort, order]:
        raise BadCursor(f"cursor belongs to {decoded[0]} sorted by {decoded[1]} {decoded[2]}; "
                        f"ask with the same sort and order")
    return decoded[3:]


def page(rows: list[dict[str, Any]], limit: int, key: SortKey, scope: str, order: Order,
         ) -> tuple[list[dict[str, Any]], str | None]:
    """Trim the `limit + 1` rows fetched to `limit`, with the cursor to the next page (if
    any), and drop the `_k*` key columns."""
    cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        cursor = encode_cursor(scope, key.name, order, key.values_of(rows[-1]))
    for row in rows:
        for i in range(len(key.parts)):
            row.pop(f"_k{i}", None)
    return rows, cursor


def page_rows(rows: list[tuple[Any, ...]], limit: int, key: SortKey, scope: str, order: Order,
              ) -> tuple[list[tuple[Any, ...]], str | None]:
    """`page` for tuple rows whose last columns are the key's `_k*` (left in the rows: a
    reader takes the columns it knows by position)."""
    if len(rows) <= limit:
        return rows, None
    del rows[limit:]
    values = list(rows[-1][-len(key.parts):])
    return rows, encode_cursor(scope, key.name, order, values)
