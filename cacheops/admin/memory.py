"""Admin for ``memory://``: the store's own counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backends.memory import MemoryBackend


class MemoryAdmin(Admin):
    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend

    def flush(self) -> None:
        self._backend.clear()

    def stats(self) -> Stats:
        backend = self._backend
        backend.purge_expired()
        store = backend._store
        with store.lock:
            raw = {
                "hits": store.hits,
                "misses": store.misses,
                "items": len(store.entries),
                "bytes": store.bytes,
                "limit_items": store.max_items,
                "limit_bytes": store.max_bytes,
                "evictions": store.evictions,
            }
        return Stats(
            backend="memory",
            hits=raw["hits"],
            misses=raw["misses"],
            items=raw["items"],
            bytes=raw["bytes"],
            limit=store.max_bytes,
            evictions=raw["evictions"],
            servers=(ServerStats(backend.location, raw),),
        )

    def info(self) -> dict[str, Any]:
        store = self._backend._store
        return {
            "backend": "memory",
            "location": self._backend.location,
            "shared": bool(self._backend.name),
            "max_items": store.max_items,
            "max_bytes": store.max_bytes,
            "max_value_size": self._backend.max_value_size,
        }
