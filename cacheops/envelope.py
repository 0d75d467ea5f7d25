"""The envelope :meth:`Backend.get_or_compute` stores a value in: the inner item, its logical
expiry and how long computing it took, behind a flag of its own (:data:`FLAG_ENVELOPE`).

Every read unwraps it (:meth:`CacheRules._decode`), so a plain ``get`` of such a key
returns the value; other clients see opaque bytes under flag 256.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from .errors import SerializationError
from .serializers import FLAG_ENVELOPE

Item = tuple[bytes, int]

# Format version, logical expiry (Unix time; inf: never stale), delta (s), inner flags.
_HEADER = struct.Struct(">BddI")
_FORMAT = 1


@dataclass(frozen=True)
class Envelope:
    """An item as get_or_compute stores it: the inner item and its timing."""

    item: Item
    expiry: float
    delta: float


def seal(item: Item, expiry: float, delta: float) -> Item:
    """``item`` in an envelope with its logical ``expiry`` and compute time ``delta``."""
    payload, flags = item
    try:
        header = _HEADER.pack(_FORMAT, expiry, delta, flags)
    except struct.error:
        raise SerializationError(f"flags {flags} do not fit a 32-bit memcached flag") from None
    return header + payload, FLAG_ENVELOPE


def open_envelope(item: Item) -> Envelope:
    """``item`` as an envelope; a plain item (written by ``put``) never goes stale."""
    payload, flags = item
    if flags != FLAG_ENVELOPE:
        return Envelope(item, math.inf, 0.0)
    if len(payload) < _HEADER.size or payload[0] != _FORMAT:
        raise SerializationError(
            "the get_or_compute envelope has a header this version cannot read "
            "(written by a newer cacheops?)"
        )
    _, expiry, delta, inner = _HEADER.unpack_from(payload)
    return Envelope((payload[_HEADER.size :], inner), expiry, delta)


def unwrap(item: Item) -> Item:
    """The inner item of an envelope, or ``item`` itself."""
    return item if item[1] != FLAG_ENVELOPE else open_envelope(item).item


__all__ = ["Envelope", "open_envelope", "seal", "unwrap"]
