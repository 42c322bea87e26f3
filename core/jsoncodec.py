"""JSON out, fast: orjson where it can, the standard library where orjson cannot.

Answers carry database values, so the encoder takes what a driver returns: Decimal as a number,
bytes as hex, dates and times and anything else as their text (as `str()` writes them). orjson
refuses integers beyond 64 bits and non-text keys; those documents go through `json` instead,
with the same conversions, so the output means the same either way.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # dates as str() writes them, as the API always has


def _default(value: Any):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def dumps_bytes(data: Any) -> bytes:
    """UTF-8 JSON (non-ASCII kept as is)."""
    try:
        return orjson.dumps(data, default=_default, option=_OPTIONS)
    except TypeError:  # a >64-bit integer or a non-text key: the slower encoder takes those
        return json.dumps(data, default=_default, ensure_ascii=False).encode()


def dumps(data: Any) -> str:
    """JSON text as `json.dumps` spaces it (event streams, where the text itself is shown)."""
    return json.dumps(data, default=_default, ensure_ascii=False)


def dumps_compact(data: Any) -> str:
    return dumps_bytes(data).decode()


loads = orjson.loads  # bytes or str; errors are json.JSONDecodeError (a ValueError)
