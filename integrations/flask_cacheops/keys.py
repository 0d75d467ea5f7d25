"""Cache keys for views and memoized functions.

Keys are readable where they can be and the same in every process: nothing here uses
``id()``, ``hash()`` or ``repr()`` of arbitrary objects, so a web worker and a background
worker compute the same key for the same call.

- a view: ``{key_prefix}:{path}`` with the path percent-encoded, plus ``?{query}`` when the
  decorator asks for the query string (pairs sorted by name; repeated names keep their
  order);
- a memoized function: ``memo:{module.qualname}:{version}:{digest}`` where ``digest`` is a
  SHA-256 of a typed, canonical encoding of the bound arguments, and ``version`` is the
  counter stored under ``memo:{module.qualname}:v`` that ``delete_memoized(fn)`` bumps.

A key the backend would refuse (too long with its prefix, or characters it cannot carry)
is replaced by ``{head}:#{sha256}`` before it reaches the backend.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import json
import pathlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

import cacheops

#: Characters left as they are in a view's path; everything else is percent-encoded, so a
#: key is printable ASCII without spaces and two different paths never share a key.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"


def _digest(text: str, size: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:size]


def fit(backend: cacheops.Backend, head: str, rest: str) -> str:
    """``head + rest`` if ``backend`` takes it as a key, else ``head + "#" + digest``."""
    readable = head + rest
    try:
        backend.make_key(readable)
    except cacheops.InvalidKey:
        return f"{head}#{_digest(rest, 40)}"
    return readable


def view_key(
    backend: cacheops.Backend,
    key_prefix: str,
    path: str,
    query: Iterable[tuple[str, str]] | None = None,
) -> str:
    """The key of a cached view for ``path`` (and ``query`` when given)."""
    rest = quote(path, safe=_PATH_SAFE)
    if query is not None:
        pairs = sorted(query, key=lambda pair: pair[0])  # stable: repeated names keep order
        rest += "?" + urlencode(pairs)
    return fit(backend, f"{key_prefix}:", rest)


def memo_head(backend: cacheops.Backend, name: str) -> str:
    """The start shared by a memoized function's keys: ``memo:{name}``, or
    ``memo:#{digest}`` when the longest key it can make would not fit the backend."""
    longest = memo_key(f"memo:{name}", 2**64, "0" * 32)
    try:
        backend.make_key(longest)
    except cacheops.InvalidKey:
        return f"memo:#{_digest(name, 40)}"
    return f"memo:{name}"


def version_key(head: str) -> str:
    return f"{head}:v"


def memo_key(head: str, version: int, digest: str) -> str:
    return f"{head}:{version}:{digest}"


# -- arguments ---------------------------------------------------------------------------


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _items(values: Iterable[Any]) -> list[str]:
    return [canonical(v) for v in values]


#: Encoders by exact type; ``type(True)`` is not ``int``, so 1 and True never meet.
_EXACT: dict[type, Callable[[Any], str]] = {
    type(None): lambda v: "N",
    bool: lambda v: "T" if v else "F",
    int: lambda v: f"i{v}",
    float: lambda v: f"f{float.hex(v)}",
    complex: lambda v: f"c{float.hex(v.real)},{float.hex(v.imag)}",
    str: lambda v: "s" + json.dumps(v),
    bytes: lambda v: "y" + v.hex(),
    bytearray: lambda v: "Y" + v.hex(),
    tuple: lambda v: "(" + ",".join(_items(v)) + ")",
    list: lambda v: "[" + ",".join(_items(v)) + "]",
    dict: lambda v: (
        "{" + ",".join(sorted(f"{canonical(k)}:{canonical(x)}" for k, x in v.items())) + "}"
    ),
    set: lambda v: "S<" + ",".join(sorted(_items(v))) + ">",
    frozenset: lambda v: "Z<" + ",".join(sorted(_items(v))) + ">",
}

#: Value types whose text form (``isoformat()`` or ``str()``) identifies them.
_BY_TEXT = (
    datetime.date,  # and datetime.datetime
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
)


def canonical(value: object) -> str:
    """A typed text form of ``value``, equal for equal arguments in every process.

    Types are part of it: ``1``, ``1.0``, ``True`` and ``"1"`` all differ. Supported: None,
    bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset,
    enums, date/time types, Decimal, UUID, paths, subclasses of the plain types, and any
    object with a ``__cache_key__()`` method (whose result is encoded in its place).
    """
    kind = type(value)
    exact = _EXACT.get(kind)
    if exact is not None:
        return exact(value)
    if isinstance(value, enum.Enum):
        return f"e{_qualified(kind)}." + json.dumps(value.name)
    hook = getattr(value, "__cache_key__", None)
    if callable(hook):
        return f"o{_qualified(kind)}(" + canonical(hook()) + ")"
    if isinstance(value, _BY_TEXT):
        isoformat = getattr(value, "isoformat", None)
        text = isoformat() if callable(isoformat) else str(value)
        return f"t{_qualified(kind)}(" + json.dumps(text) + ")"
    for base, encode in _EXACT.items():
        if base is not type(None) and isinstance(value, base):
            # A subclass of a plain type (a str subclass, an int flag type...): its own
            # type name, then the plain value.
            return f"x{_qualified(kind)}(" + encode(value) + ")"
    raise TypeError(
        f"memoize cannot make a stable cache key from a {_qualified(kind)} argument: "
        "give the class a __cache_key__() method returning plain values, or leave the "
        "argument out of the key with memoize(ignore=...)"
    )


def arguments_digest(arguments: Iterable[tuple[str, object]]) -> str:
    """The digest of a call's bound arguments, ``(name, value)`` in parameter order."""
    return _digest(",".join(f"{name}={canonical(value)}" for name, value in arguments))
