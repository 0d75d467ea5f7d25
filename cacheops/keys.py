"""Keys made from function calls, shared by :meth:`Backend.memoize` and the integrations.

Nothing here uses ``id()``, ``hash()`` or ``repr()`` of arbitrary objects, so a web worker
and a background worker compute the same key for the same call. A key the backend would
refuse (too long with its prefix, or characters it cannot carry) gets a digest in its place
before it reaches the backend.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import inspect
import json
import pathlib
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import InvalidKey

if TYPE_CHECKING:
    from .rules import CacheRules as Backend  # the sync and the async Backend alike


def digest(text: str, size: int = 32) -> str:
    """The first ``size`` hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:size]


def fit(backend: Backend, head: str, rest: str) -> str:
    """``head + rest`` if ``backend`` takes it as a key, else ``head + "#" + digest``."""
    readable = head + rest
    try:
        backend.make_key(readable)
    except InvalidKey:
        return f"{head}#{digest(rest, 40)}"
    return readable


def name_head(backend: Backend, kind: str, name: str, longest_tail: str) -> str:
    """``{kind}:{name}``, or ``{kind}:#{digest}`` when ``name`` followed by the longest tail
    a caller appends would not fit the backend: every key of one function shares a head."""
    head = f"{kind}:{name}"
    try:
        backend.make_key(head + longest_tail)
    except InvalidKey:
        return f"{kind}:#{digest(name, 40)}"
    return head


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
    return digest(",".join(f"{name}={canonical(value)}" for name, value in arguments))


def call_digest(
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    ignore: Collection[str] = (),
) -> str:
    """The digest of one call: ``f(1)``, ``f(a=1)`` and, with a default ``b``, ``f(1, b=2)``
    are one call; ``f(1)`` and ``f("1")`` are two. Arguments named in ``ignore`` are left
    out. Raises TypeError when the arguments do not fit the signature, or when one cannot
    be part of a key."""
    return _bound_digest(signature.bind(*args, **kwargs), ignore)


def call_digest_if_bound(
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    ignore: Collection[str] = (),
) -> str | None:
    """:func:`call_digest`, or None when the arguments do not fit the signature (a memoized
    wrapper then calls the function for Python's own TypeError): one bind per call."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    return _bound_digest(bound, ignore)


def _bound_digest(bound: inspect.BoundArguments, ignore: Collection[str]) -> str:
    bound.apply_defaults()
    return arguments_digest(
        (name, value) for name, value in bound.arguments.items() if name not in ignore
    )


def memo_signature(
    function: Callable[..., Any], ignore: Iterable[str], *, coroutines: bool = False
) -> inspect.Signature:
    """The signature a memoized ``function``'s keys are bound with. TypeError for what
    cannot be memoized: a coroutine (unless ``coroutines``: the async memoize awaits it) or
    generator (its result is not a value), or an ``ignore`` that names an argument
    ``function`` does not take."""
    if inspect.isasyncgenfunction(function) or (
        inspect.iscoroutinefunction(function) and not coroutines
    ):
        raise TypeError(
            "memoize caches results of plain functions, not coroutines: "
            "use the async backend's memoize (cacheops.connect_async) for those"
        )
    if inspect.isgeneratorfunction(function):
        raise TypeError("memoize cannot cache a generator; return a list instead")
    signature = inspect.signature(function)
    unknown = set(ignore) - set(signature.parameters)
    if unknown:
        raise TypeError(
            f"memoize(ignore=...) names {', '.join(sorted(unknown))}, which "
            f"{function.__qualname__} does not take"
        )
    return signature


__all__ = [
    "arguments_digest",
    "call_digest",
    "call_digest_if_bound",
    "canonical",
    "digest",
    "fit",
    "memo_signature",
    "name_head",
]
