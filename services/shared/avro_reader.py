"""Pure: Avro binary bodies read by a function compiled for one schema, from the bytes.

`compile_reader(schema)` returns `read(data, pos) -> (record, end)` that gives what
`fastavro.schemaless_reader(BytesIO(data[pos:]), schema)` gives (the same dicts, lists,
strings, datetimes, `uuid.UUID`s) for a schema read without resolution (writer = reader).
Why: fastavro's Cython reader pulls every varint byte through `BytesIO.read(1)` and walks
the schema dict for every value, which made it a fifth of the projector's samples (py-spy
on `benchmarks.projection`, two projector processes); this one indexes the bytes and is
straight-line code per record type (the codec keeps fastavro for every other case).

Only the types Reelflow's schemas use are compiled: records, two-branch-or-more unions,
arrays, enums, the primitives, and the logical types `timestamp-millis` and `uuid`;
`compile_reader` raises `Unsupported` for anything else (maps, fixed, decimals...), and
the caller reads those with fastavro. Bad input raises (IndexError, ValueError,
UnicodeDecodeError, struct.error): the caller turns any exception into its own error, and
checks that the body ended where the data did.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Reader = Callable[[bytes, int], tuple[Any, int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from


class Unsupported(Exception):
    """The schema uses a type this reader does not compile."""


def _varint(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (`first`, continuation bit set) came before
    `pos`: the zig-zag decoded value and the position after it."""
    n = first & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


class _Compiler:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.functions: list[str] = []
        self.names: dict[str, str] = {}  # named record -> its function
        self.counter = 0
        self.constants: dict[str, Any] = {}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.constants[name] = value
        return name

    # Each `emit_*` appends lines (at `indent`) that leave the value in `target`, reading
    # from `data` at `pos` and moving `pos` past it.
    def emit_long(self, out: list[str], indent: str, target: str) -> None:
        out += [f"{indent}b = data[pos]", f"{indent}pos += 1",
                f"{indent}if b & 0x80:", f"{indent}    {target}, pos = _varint(data, pos, b)",
                f"{indent}else:", f"{indent}    {target} = (b >> 1) ^ -(b & 1)"]

    def emit_length(self, out: list[str], indent: str, target: str) -> None:
        self.emit_long(out, indent, target)
        out += [f"{indent}if {target} < 0:",
                f"{indent}    raise ValueError('negative length')"]

    def emit(self, schema: Any, out: list[str], indent: str, target: str) -> None:
        if isinstance(schema, list):
            self.emit_union(schema, out, indent, target)
            return
        if isinstance(schema, str):
            if schema in self.names:
                out.append(f"{indent}{target}, pos = {self.names[schema]}(data, pos)")
                return
            kind, logical = schema, None
        else:
            kind, logical = schema["type"], schema.get("logicalType")
            if isinstance(kind, (dict, list)):
                self.emit(kind, out, indent, target)
                return
        if logical is not None and kind in ("string", "long", "int"):
            if logical == "uuid" and kind == "string":
                self.emit(kind, out, indent, target)
                out.append(f"{indent}{target} = _UUID({target})")
                return
            if logical == "timestamp-millis" and kind == "long":
                self.emit(kind, out, indent, target)
                out.append(f"{indent}{target} = _EPOCH + _MILLIS(microseconds={target} * 1000)")
                return
            raise Unsupported(f"logical type {logical} of {kind}")
        if kind == "null":
            out.append(f"{indent}{target} = None")
        elif kind == "boolean":
            out += [f"{indent}{target} = data[pos] != 0", f"{indent}pos += 1"]
        elif kind in ("int", "long"):
            self.emit_long(out, indent, target)
        elif kind == "double":
            out += [f"{indent}{target}, = _DOUBLE(data, pos)", f"{indent}pos += 8"]
        elif kind == "float":
            out += [f"{indent}{target}, = _FLOAT(data, pos)", f"{indent}pos += 4"]
        elif kind in ("string", "bytes"):
            size = self.fresh("n")
            self.emit_length(out, indent, size)
            read = f"data[pos:pos + {size}]"
            out += [f"{indent}{target} = {read}.decode()" if kind == "string"
                    else f"{indent}{target} = {read}", f"{indent}pos += {size}"]
        elif kind == "enum":
            symbols = self.constant(tuple(schema["symbols"]))
            index = self.fresh("i")
            self.emit_long(out, indent, index)
            out += [f"{indent}if {index} < 0:", f"{indent}    raise ValueError('enum index')",
                    f"{indent}{target} = {symbols}[{index}]"]
        elif kind == "array":
            self.emit_array(schema, out, indent, target)
        elif kind in ("record", "error"):
            function = self.record(schema)
            out.append(f"{indent}{target}, pos = {function}(data, pos)")
        else:
            raise Unsupported(f"type {kind}")

    def emit_union(self, branches: list[Any], out: list[str], indent: str,
                   target: str) -> None:
        index = self.fresh("u")
        self.emit_long(out, indent, index)
        for i, branch in enumerate(branches):
            out.append(f"{indent}{'if' if i == 0 else 'elif'} {index} == {i}:")
            self.emit(branch, out, indent + "    ", target)
        out += [f"{indent}else:", f"{indent}    raise ValueError('union index')"]

    def emit_array(self, schema: dict[str, Any], out: list[str], indent: str,
                   target: str) -> None:
        count, item, skip = self.fresh("k"), self.fresh("v"), self.fresh("s")
        inner = indent + "    "
        out.append(f"{indent}{target} = []")
        self.emit_long(out, indent, count)
        out.append(f"{indent}while {count}:")
        out += [f"{inner}if {count} < 0:", f"{inner}    {count} = -{count}"]
        self.emit_long(out, inner + "    ", skip)  # the block's size in bytes, unused
        out.append(f"{inner}for _ in range({count}):")
        self.emit(schema["items"], out, inner + "    ", item)
        out.append(f"{inner}    {target}.append({item})")
        self.emit_long(out, inner, count)

    def record(self, schema: dict[str, Any]) -> str:
        name = schema.get("name")
        if name in self.names:
            return self.names[name]
        function = self.fresh("_read_")
        if name:
            self.names[name] = function
        body: list[str] = []
        values = []
        for f in schema["fields"]:
            value = self.fresh("f")
            self.emit(f["type"], body, "    ", value)
            values.append(f"{f['name']!r}: {value}")
        self.functions.append("\n".join([
            f"def {function}(data, pos):", *body,
            f"    return {{{', '.join(values)}}}, pos", ""]))
        return function


def compile_reader(schema: dict[str, Any]) -> Reader:
    """The reader of a record schema (as written, or as `fastavro.parse_schema` leaves
    it): `read(data, pos) -> (record, end)`."""
    compiler = _Compiler()
    function = compiler.record(schema)
    namespace: dict[str, Any] = {"_varint": _varint, "_UUID": uuid.UUID,
                                 "_EPOCH": _EPOCH, "_MILLIS": timedelta,
                                 "_DOUBLE": _DOUBLE, "_FLOAT": _FLOAT, **compiler.constants}
    exec("\n".join(compiler.functions), namespace)  # noqa: S102 - our own generated source
    reader: Reader = namespace[function]
    return reader
