"""``memory://``: an in-process store, thread-safe, with TTLs and LRU eviction.

It keeps encoded ``(payload, flags)`` items like every other backend, so a value read back
is a copy, and unsupported types fail here exactly as they would on memcached. Counters
follow memcached's rule: a stored value counts as a number when it is ASCII decimal digits
(an optional leading ``-`` is accepted here; memcached refuses negative numbers).

``memory://`` is a private store; ``memory://NAME`` is shared by every backend in the
process that names it, as Django's LocMemCache does with its LOCATION.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backend import Backend, CasToken, Item
from ..config import CacheConfig
from ..errors import ConfigurationError, NotNumeric
from ..serializers import FLAG_INT

_NUMBER = re.compile(rb"-?[0-9]+")


def _as_number(payload: bytes) -> int | None:
    if _NUMBER.fullmatch(payload) is None:
        return None
    try:
        return int(payload)
    except ValueError:  # more digits than Python converts (int_max_str_digits)
        return None


@dataclass
class _Entry:
    item: Item
    expires: float | None
    cas: int

    @property
    def size(self) -> int:
        return len(self.item[0])


class _Store:
    """The shared state: entries in LRU order (oldest first) and the counters."""

    def __init__(self, max_items: int | None, max_bytes: int | None) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0
        self.cas_counter = itertools.count(1)


_named_stores: dict[str, _Store] = {}
_named_lock = threading.Lock()
# Every store, so that a fork can take their locks first: the child then inherits each
# store between two operations (a consistent copy) and locks that nobody holds. Only
# resetting the locks in the child would leave it a store some thread was half-way through.
_stores: weakref.WeakSet[_Store] = weakref.WeakSet()
_held: list[threading.Lock] = []


def _before_fork() -> None:
    _named_lock.acquire()
    for store in list(_stores):
        store.lock.acquire()
        _held.append(store.lock)


def _after_fork() -> None:
    # In the parent and in the child alike: the forking thread holds them all.
    while _held:
        _held.pop().release()
    _named_lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork
    )


class MemoryBackend(Backend):
    scheme = "memory"

    def __init__(
        self,
        *,
        name: str = "",
        max_items: int | None = None,
        max_bytes: int | None = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        for label, limit in (("max_items", max_items), ("max_bytes", max_bytes)):
            if limit is not None and limit < 1:
                raise ConfigurationError(f"{label} must be at least 1, or None for no limit")
        self.name = name
        self._clock = clock
        with _named_lock:  # also keeps _stores still while a fork walks it
            store = _named_stores.get(name) if name else None
            if store is None:
                store = _Store(max_items, max_bytes)
                _stores.add(store)
                if name:
                    _named_stores[name] = store
        self._store = store

    @classmethod
    def from_config(cls, config: CacheConfig, **options: Any) -> MemoryBackend:
        return cls(name=config.name, **cls.coerce_options(config, options))

    @property
    def location(self) -> str:
        return f"memory://{self.name}"

    @property
    def max_items(self) -> int | None:
        return self._store.max_items

    @property
    def max_bytes(self) -> int | None:
        return self._store.max_bytes

    def counters(self) -> dict[str, int | None]:
        """The store's counters, read together under its lock (one consistent snapshot):
        hits, misses, items, bytes, limit_items, limit_bytes, evictions."""
        store = self._store
        with store.lock:
            return {
                "hits": store.hits,
                "misses": store.misses,
                "items": len(store.entries),
                "bytes": store.bytes,
                "limit_items": store.max_items,
                "limit_bytes": store.max_bytes,
                "evictions": store.evictions,
            }

    # -- store helpers (call with the lock held) ---------------------------------------

    def _live(self, key: str) -> _Entry | None:
        store = self._store
        entry = store.entries.get(key)
        if entry is None:
            return None
        if entry.expires is not None and entry.expires <= self._clock():
            self._drop(key)
            return None
        return entry

    def _drop(self, key: str) -> _Entry | None:
        entry = self._store.entries.pop(key, None)
        if entry is not None:
            self._store.bytes -= entry.size
        return entry

    def _write(self, key: str, item: Item, ttl: float | None) -> None:
        store = self._store
        self._drop(key)
        if ttl == 0.0:
            return
        expires = None if ttl is None else self._clock() + ttl
        entry = _Entry(item, expires, next(store.cas_counter))
        store.entries[key] = entry
        store.bytes += entry.size
        while store.entries and (
            (store.max_items is not None and len(store.entries) > store.max_items)
            or (store.max_bytes is not None and store.bytes > store.max_bytes)
        ):
            oldest = next(iter(store.entries))
            self._drop(oldest)
            store.evictions += 1

    def purge_expired(self) -> None:
        """Drop every expired entry now (lookups drop them lazily otherwise)."""
        with self._store.lock:
            for key in list(self._store.entries):
                self._live(key)

    # -- primitives --------------------------------------------------------------------

    def _lookup(self, key: str) -> _Entry | None:
        """A read: counts the hit or miss and refreshes the entry's LRU position."""
        store = self._store
        entry = self._live(key)
        if entry is None:
            store.misses += 1
            return None
        store.hits += 1
        store.entries.move_to_end(key)
        return entry

    def get_item(self, key: str) -> Item | None:
        with self._store.lock:
            entry = self._lookup(key)
            return None if entry is None else entry.item

    def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        with self._store.lock:
            self._write(key, item, ttl)

    def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        with self._store.lock:
            if self._live(key) is not None:
                return False
            self._write(key, item, ttl)
            return True

    def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        with self._store.lock:
            if self._live(key) is None:
                return False
            self._write(key, item, ttl)
            return True

    def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        with self._store.lock:
            entry = self._lookup(key)
            return None if entry is None else (entry.item, entry.cas)

    def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        with self._store.lock:
            entry = self._live(key)
            if entry is None or entry.cas != token:
                return False
            self._write(key, item, ttl)
            return True

    def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        with self._store.lock:
            entry = self._live(key)
            if entry is None:
                if default is None:
                    return None
                value = default + delta
                self._write(key, (str(value).encode(), FLAG_INT), None)
                return value
            payload, flags = entry.item
            number = _as_number(payload)
            if number is None:
                raise NotNumeric(
                    f"cannot increment or decrement {key!r}: its value is not a number",
                    backend=self.scheme,
                )
            value = number + delta
            entry.item = (str(value).encode(), flags)
            self._store.bytes += entry.size - len(payload)
            entry.cas = next(self._store.cas_counter)
            # A counter in use is not the next to go, as with Django's LocMemCache.
            self._store.entries.move_to_end(key)
            return value

    def delete_item(self, key: str) -> bool:
        with self._store.lock:
            return self._live(key) is not None and self._drop(key) is not None

    def touch_item(self, key: str, ttl: float | None) -> bool:
        with self._store.lock:
            entry = self._live(key)
            if entry is None:
                return False
            if ttl == 0.0:
                self._drop(key)
            else:
                entry.expires = None if ttl is None else self._clock() + ttl
            return True

    def clear_items(self) -> None:
        with self._store.lock:
            self._store.entries.clear()
            self._store.bytes = 0


__all__ = ["MemoryBackend"]
