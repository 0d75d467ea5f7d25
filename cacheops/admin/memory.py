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
        raw = backend.counters()
        return Stats(
            backend="memory",
            hits=raw["hits"],
            misses=raw["misses"],
            items=raw["items"],
            bytes=raw["bytes"],
            limit=raw["limit_bytes"],
            evictions=raw["evictions"],
            servers=(ServerStats(backend.location, raw),),
        )

    def info(self) -> dict[str, Any]:
        backend = self._backend
        return {
            "backend": "memory",
            "location": backend.location,
            "shared": bool(backend.name),
            "max_items": backend.max_items,
            "max_bytes": backend.max_bytes,
            "max_value_size": backend.max_value_size,
        }


__all__ = ["MemoryAdmin"]
