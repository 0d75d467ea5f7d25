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
is replaced by ``{head}:#{sha256}`` before it reaches the backend. The typed encoding of
arguments is :mod:`cacheops.keys`'s, the one ``Backend.memoize`` uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlencode

import cacheops
from cacheops.keys import arguments_digest, canonical, fit, name_head

#: Characters left as they are in a view's path; everything else is percent-encoded, so a
#: key is printable ASCII without spaces and two different paths never share a key.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"


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
    return name_head(backend, "memo", name, memo_key("", 2**64, "0" * 32))


def version_key(head: str) -> str:
    return f"{head}:v"


def memo_key(head: str, version: int, digest: str) -> str:
    return f"{head}:{version}:{digest}"


__all__ = [
    "arguments_digest",
    "canonical",
    "fit",
    "memo_head",
    "memo_key",
    "version_key",
    "view_key",
]
