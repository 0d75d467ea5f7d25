"""The caches of the local IronCache server and what each endpoint of the IronCache REST
API v1 does to them.

:class:`CacheStore` holds the caches; :meth:`CacheStore.apply` carries out one routed,
authenticated request and returns ``(status, payload)``, or raises
:class:`~cacheops.testing.http_server.RequestRejected` with the status and ``msg`` of the
error.  Routing, authentication and the HTTP plumbing are
:mod:`cacheops.testing.ironcache_server`'s.

Where the API document is silent or ambiguous, the choice made is written next to the
code that makes it (search for "Ambiguity").
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cacheops.testing.http_server import RequestRejected, is_int, json_object

__all__ = [
    "LIST_CACHES_DEFAULT_PER_PAGE",
    "MAX_EXPIRES_IN",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "CacheStore",
]

#: "Maximum is 2,592,000 seconds (30 days)."
MAX_EXPIRES_IN = 2_592_000
#: Pagination: "Maximum is 100" for both ``page`` and ``per_page``.
MAX_PAGE = 100
MAX_PER_PAGE = 100
# Ambiguity: the Pagination section says ``per_page`` defaults to 30, the List Caches
# section says "100 caches are listed at a time".  The endpoint-specific sentence wins
# for List Caches: without ``per_page`` a page holds 100 caches; a ``per_page`` given by
# the client (1..100) is honoured, since List Caches refers to the Pagination section.
LIST_CACHES_DEFAULT_PER_PAGE = 100


@dataclass
class _Item:
    value: str | int
    cas: int
    expires_at: float | None  # in ``clock()`` time; None: never expires


class CacheStore:
    """The caches of one IronCache project.

    ``lock`` is the server's lock, which also guards its request log, so that a snapshot
    of both is consistent; every method takes it except those named ``*_locked``.
    ``clock`` drives item expiry only.
    """

    def __init__(
        self, *, project_id: str, lock: threading.Lock, clock: Callable[[], float]
    ) -> None:
        self._project_id = project_id
        self._lock = lock
        self._clock = clock
        self._caches: dict[str, dict[str, _Item]] = {}
        # cas values: odd numbers above 2**60 so that none of them survives a round trip
        # through a float64 (anything above 2**53 that is odd cannot); steps of 2.
        self._next_cas = (2**60 + random.getrandbits(40)) | 1

    # -- introspection

    def items(self, cache_name: str) -> dict[str, Any]:
        """A snapshot ``{key: value}`` of the live (unexpired) items of a cache; ``{}``
        when the cache does not exist."""
        with self._lock:
            now = self._clock()
            cache = self._caches.get(cache_name, {})
            return {k: it.value for k, it in cache.items() if _alive(it, now)}

    def names(self) -> list[str]:
        """Names of the existing caches, sorted."""
        with self._lock:
            return sorted(self._caches)

    def clear_locked(self) -> None:
        """Forget every cache (the lock held).  cas values keep increasing, so a cas from
        before never matches again."""
        self._caches.clear()

    # -- the API

    def apply(
        self,
        route: str,
        method: str,
        cache: str | None,
        key: str | None,
        query: dict[str, list[str]],
        body: bytes,
    ) -> tuple[int, Any]:
        if route == "caches":
            return 200, self._list_caches(query)
        assert cache is not None
        if route == "cache":
            return (200, self._cache_info(cache)) if method == "GET" else self._delete_cache(cache)
        if route == "clear":
            return self._clear_cache(cache)
        assert key is not None
        if route == "item":
            if method == "PUT":
                return self._put(cache, key, json_object(body))
            if method == "GET":
                return 200, self._get(cache, key)
            return self._delete_item(cache, key)
        return self._increment(cache, key, json_object(body))

    # GET /projects/{Project ID}/caches
    def _list_caches(self, query: dict[str, list[str]]) -> list[dict[str, str]]:
        page = _query_int(query, "page", default=0, low=0, high=MAX_PAGE)
        per_page = _query_int(
            query, "per_page", default=LIST_CACHES_DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE
        )
        with self._lock:
            # Ambiguity: the document gives no order; caches are listed sorted by name,
            # which keeps pages stable while caches come and go.
            names = sorted(self._caches)
        chosen = names[page * per_page : (page + 1) * per_page]
        return [{"project_id": self._project_id, "name": name} for name in chosen]

    # GET /projects/{Project ID}/caches/{Cache Name}
    def _cache_info(self, cache: str) -> dict[str, Any]:
        with self._lock:
            items = self._live_cache(cache)
            # The document shows only "size" (as a placeholder string); it is sent as the
            # number of live items, a JSON integer.
            return {"size": len(items)}

    # DELETE /projects/{Project ID}/caches/{Cache Name}
    def _delete_cache(self, cache: str) -> tuple[int, Any]:
        with self._lock:
            if cache not in self._caches:
                raise RequestRejected(404, "Cache not found.")
            del self._caches[cache]
        return 200, {"msg": "Deleted."}

    # POST /projects/{Project ID}/caches/{Cache Name}/clear
    def _clear_cache(self, cache: str) -> tuple[int, Any]:
        with self._lock:
            if cache not in self._caches:
                raise RequestRejected(404, "Cache not found.")
            self._caches[cache].clear()  # the cache itself stays, empty
        return 201, {"msg": "Cleared."}

    # PUT /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _put(self, cache: str, key: str, doc: dict[str, Any]) -> tuple[int, Any]:
        if "value" not in doc:
            # "406 Not Acceptable: Required fields are missing."
            raise RequestRejected(406, "Required field missing: value.")
        value = doc["value"]
        # Ambiguity: the document says only "value: The item's data"; the Iron.io docs
        # say the store "enforces strings as the key and the value" and "detects numbers
        # and stores them natively as numbers".  Assumed: a JSON string is stored as a
        # string and a JSON integer as a number; every other JSON type (float, bool,
        # null, list, object) is refused with 400 ("has wrong types"), as the real service
        # does not store them as-is.
        if not (is_int(value) or isinstance(value, str)):
            raise RequestRejected(
                400,
                f"Invalid value: it must be a string or an integer, not {_json_type(value)}.",
            )
        expires_in = _optional_int(doc, "expires_in")
        if expires_in is not None and not 0 <= expires_in <= MAX_EXPIRES_IN:
            raise RequestRejected(
                400, f"Invalid expires_in: it must be between 0 and {MAX_EXPIRES_IN} seconds."
            )
        replace = _optional_bool(doc, "replace")
        add = _optional_bool(doc, "add")
        cas = _optional_int(doc, "cas")
        # Ambiguity: the document does not say what contradictory flags do.  add with
        # replace, or add with cas (which needs an existing item), can never store
        # anything, so they are refused as a bad request.
        if add and (replace or cas is not None):
            raise RequestRejected(400, "Invalid flags: add cannot be combined with replace or cas.")

        with self._lock:
            items, current, now = self._slot_locked(cache, key)
            # Ambiguity: the document gives the conditions but no status or msg for a
            # put that is not stored.  Chosen: 404 when the item must exist and does not
            # (replace, cas); 409 Conflict when it exists and must not (add) or its cas
            # differs.  Nothing is changed in those cases.
            if add and current is not None:
                raise RequestRejected(409, "Not stored: the item already exists and add was set.")
            if (replace or cas is not None) and current is None:
                reason = "cas" if cas is not None else "replace"
                raise RequestRejected(
                    404, f"Not stored: the item does not exist and {reason} was set."
                )
            if cas is not None and current is not None and current.cas != cas:
                raise RequestRejected(409, "Not stored: cas mismatch, the item has changed.")
            # Ambiguity: expires_in 0 is treated as "no expiry" (the document's default,
            # and memcached's meaning of 0), not as "expire at once".
            expires_at = now + expires_in if expires_in else None
            items[key] = _Item(value, self._new_cas(), expires_at)
        # The table gives 200 for GET and 201 for POST and is silent on PUT: a stored item
        # is 200 OK with the body the document shows.
        return 200, {"msg": "Stored."}

    # POST /projects/{Project ID}/caches/{Cache Name}/items/{Key}/increment
    def _increment(self, cache: str, key: str, doc: dict[str, Any]) -> tuple[int, Any]:
        if "amount" not in doc or doc["amount"] is None:
            raise RequestRejected(406, "Required field missing: amount.")
        amount = doc["amount"]
        if not is_int(amount):
            raise RequestRejected(400, "Invalid amount: it must be an integer.")
        with self._lock:
            items, current, _ = self._slot_locked(cache, key)
            if current is None:
                # protocol-facts.md: a missing key is created with value = amount
                # ("unlike memcached"); it does not expire.
                new_value = amount
                items[key] = _Item(new_value, self._new_cas(), None)
            else:
                # Ambiguity: only items stored as JSON integers are numeric; a string such
                # as "5" is not (strict, so that a client that relies on the service
                # parsing strings fails here rather than in production).  The result may
                # go below zero (no memcached-style clamping); the expiry is kept.
                if not is_int(current.value):
                    raise RequestRejected(400, "Cannot increment or decrement non-numeric value")
                assert isinstance(current.value, int)
                new_value = current.value + amount
                items[key] = _Item(new_value, self._new_cas(), current.expires_at)
        return 201, {"msg": "Added", "value": new_value}

    # GET /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _get(self, cache: str, key: str) -> dict[str, Any]:
        with self._lock:
            item = self._live_cache(cache).get(key)
            if item is None:
                raise RequestRejected(404, "Key not found.")
            # The document shows cache, key, value, cas; protocol-facts.md adds flags and
            # expires, so all six are sent.  cas is a JSON integer (the document's
            # "12345" is a placeholder, like "ITEM VALUE"); flags is always 0 (nothing in
            # the API sets them); expires is "YYYY-MM-DDTHH:MM:SSZ" in UTC, or null for an
            # item that never expires (the document shows no format).
            return {
                "cache": cache,
                "key": key,
                "value": item.value,
                "cas": item.cas,
                "flags": 0,
                "expires": _format_expires(item.expires_at),
            }

    # DELETE /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _delete_item(self, cache: str, key: str) -> tuple[int, Any]:
        with self._lock:
            items = self._live_cache(cache)
            if key not in items:
                raise RequestRejected(404, "Key not found.")
            del items[key]
        return 200, {"msg": "Deleted."}

    # -- store helpers (call with self._lock held)

    def _live_cache(self, cache: str) -> dict[str, _Item]:
        items = self._caches.get(cache)
        if items is None:
            raise RequestRejected(404, "Cache not found.")
        now = self._clock()
        for dead in [k for k, it in items.items() if not _alive(it, now)]:
            del items[dead]
        return items

    def _slot_locked(self, cache: str, key: str) -> tuple[dict[str, _Item], _Item | None, float]:
        """For a write: the items of ``cache`` (created if missing: "it will be created for
        you"), the live item under ``key`` (``None`` when absent or expired) and now."""
        now = self._clock()
        items = self._caches.setdefault(cache, {})
        current = items.get(key)
        if current is not None and not _alive(current, now):
            del items[key]
            current = None
        return items, current, now

    def _new_cas(self) -> int:
        cas = self._next_cas
        self._next_cas += 2
        return cas


# --------------------------------------------------------------------------- helpers


def _alive(item: _Item, now: float) -> bool:
    return item.expires_at is None or now < item.expires_at


def _format_expires(expires_at: float | None) -> str | None:
    if expires_at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _optional_int(doc: dict[str, Any], name: str) -> int | None:
    value = doc.get(name)
    if value is None:  # absent or null: not set
        return None
    if not is_int(value):
        raise RequestRejected(400, f"Invalid {name}: it must be an integer.")
    assert isinstance(value, int)
    return value


def _optional_bool(doc: dict[str, Any], name: str) -> bool:
    value = doc.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestRejected(400, f"Invalid {name}: it must be true or false.")
    return value


def _query_int(query: dict[str, list[str]], name: str, *, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    text = values[-1]
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise RequestRejected(400, f"Invalid {name}: it must be an integer.")
    number = int(text)
    # Ambiguity: "Maximum is 100" — values outside the range are refused, not clamped.
    if not low <= number <= high:
        raise RequestRejected(400, f"Invalid {name}: it must be between {low} and {high}.")
    return number
