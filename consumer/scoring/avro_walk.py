"""Why an Avro value is not the canonical encoding of its record, for any writer schema.

fastavro decodes some non-canonical values without complaint (an enum or union index of
-1 reads as the last symbol; integers padded with zero groups read as their value).
Values read through fastavro (a Schema Registry writer schema other than ours) are
therefore re-encoded and compared; when they differ, this walks the bytes once more to
name the defect: ``bad_index`` or ``non_canonical``, and the field.
"""

from __future__ import annotations

from typing import Any

_PRIMITIVE_FIXED = {"float": 4, "double": 8}


class _Defect(Exception):
    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _long(buf: bytes, pos: int, field: str) -> tuple[int, int]:
    acc = shift = n = 0
    while True:
        if pos >= len(buf):
            raise _Defect("truncated", field)
        b = buf[pos]
        pos += 1
        n += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if n >= 10:
            raise _Defect("malformed", field)
    if n > 1 and b == 0:
        raise _Defect("non_canonical", field)
    return (acc >> 1) ^ -(acc & 1), pos


def _skip(buf: bytes, pos: int, schema: Any, field: str, named: dict[str, Any]) -> int:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # union
        index, pos = _long(buf, pos, field)
        if not 0 <= index < len(schema):
            raise _Defect("bad_index", field)
        return _skip(buf, pos, schema[index], field, named)
    kind = schema["type"] if isinstance(schema, dict) else schema
    if isinstance(kind, (dict, list)):
        return _skip(buf, pos, kind, field, named)
    if kind == "null":
        return pos
    if kind == "boolean":
        if pos >= len(buf) or buf[pos] > 1:
            raise _Defect("non_canonical", field)
        return pos + 1
    if kind in ("int", "long"):
        return _long(buf, pos, field)[1]
    if kind in _PRIMITIVE_FIXED:
        return pos + _PRIMITIVE_FIXED[kind]
    if kind in ("string", "bytes"):
        n, pos = _long(buf, pos, field)
        if n < 0 or pos + n > len(buf):
            raise _Defect("truncated", field)
        return pos + n
    if kind == "fixed":
        return pos + int(schema["size"])
    if kind == "enum":
        named[schema["name"]] = schema
        index, pos = _long(buf, pos, field)
        if not 0 <= index < len(schema["symbols"]):
            raise _Defect("bad_index", field)
        return pos
    if kind in ("array", "map"):
        while True:
            count, pos = _long(buf, pos, field)
            if count == 0:
                return pos
            if count < 0:
                count = -count
                _, pos = _long(buf, pos, field)  # block size in bytes
            for _ in range(count):
                if kind == "map":
                    pos = _skip(buf, pos, "string", field, named)
                pos = _skip(
                    buf, pos, schema["items" if kind == "array" else "values"], field, named
                )
    if kind in ("record", "error"):
        named[schema["name"]] = schema
        for f in schema["fields"]:
            pos = _skip(buf, pos, f["type"], f["name"], named)
        return pos
    raise _Defect("malformed", field)


def defect(value: bytes, schema: dict[str, Any]) -> tuple[str, str]:
    """(reason, field) of the first defect in ``value`` read with ``schema`` (a raw,
    unparsed schema), or ("non_canonical", "value") if none is found field by field."""
    try:
        _skip(value, 0, schema, "value", {})
    except _Defect as d:
        return d.reason, d.field
    return "non_canonical", "value"
