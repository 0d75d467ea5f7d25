"""IronCache's value format, as every cacheops client (sync or async) writes and reads it.

- a ``str`` is stored as a JSON string, an ``int`` in the signed 64-bit range as a JSON
  number: IronCache's native values, which every other client reads and IronCache's own
  ``increment`` works on;
- anything else (bytes, float, bool, None, list, dict, pickles, larger ints) is stored as
  the string ``"cacheops:v1:<flags>:<base64 of the encoded payload>"``;
- a ``str`` that itself starts with ``"cacheops:v1:"`` is stored in that same form (flags
  16), so reading a value back is never ambiguous.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, TypeGuard

from ..rules import Item
from ..serializers import FLAG_INT, FLAG_JSON, FLAG_STR

__all__ = [
    "MARKER",
    "MAX_BODY_SIZE",
    "MAX_EXPIRES_IN",
    "expires_in",
    "from_wire",
    "is_counter",
    "to_wire",
]

#: "Item Size ... 1MB ... includes the entire body of the request".
MAX_BODY_SIZE = 1_048_576
#: "expires_in ... Maximum is 2,592,000 seconds (30 days)".
MAX_EXPIRES_IN = 2_592_000
#: The prefix of every value that is not a native IronCache string or number.
MARKER = "cacheops:v1:"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MARKED = re.compile(r"(-?[0-9]+):([A-Za-z0-9+/]*={0,2})", re.ASCII)


def to_wire(item: Item) -> str | int:
    """The IronCache ``value`` for an encoded item (see the module doc)."""
    payload, flags = item
    if flags == FLAG_INT:
        number = int(payload)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    elif flags == FLAG_STR:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if not text.startswith(MARKER):
                return text
    return f"{MARKER}{flags}:{base64.b64encode(payload).decode('ascii')}"


def from_wire(value: Any) -> Item:
    """The encoded item for an IronCache ``value``, whoever wrote it."""
    if isinstance(value, str):
        if value.startswith(MARKER):
            match = _MARKED.fullmatch(value, len(MARKER))
            if match is not None:
                try:
                    return base64.b64decode(match[2], validate=True), int(match[1])
                except binascii.Error:
                    pass
        # A plain string, or one another client wrote that only looks like ours.
        return value.encode("utf-8"), FLAG_STR
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii"), FLAG_INT
    # Another client's JSON value (IronCache itself stores only strings and numbers).
    return json.dumps(value, separators=(",", ":")).encode("utf-8"), FLAG_JSON


def is_counter(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def expires_in(ttl: float) -> int:
    # Whole seconds, rounded up: an item never expires before it was asked to, and a
    # ttl under a second never becomes 0 (which IronCache reads as "no expiry").
    return max(1, math.ceil(ttl))
