"""The admin interface every backend offers: flush, stats, info."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerStats:
    """One server's counters, as the server reports them."""

    server: str
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stats:
    """One shape for every backend; a counter the backend cannot report is None."""

    backend: str
    hits: int | None = None
    misses: int | None = None
    items: int | None = None
    bytes: int | None = None
    limit: int | None = None
    evictions: int | None = None
    servers: tuple[ServerStats, ...] = ()

    @property
    def hit_rate(self) -> float | None:
        """Hits over lookups, 0.0 to 1.0; None before any lookup or when unknown."""
        if self.hits is None or self.misses is None or self.hits + self.misses == 0:
            return None
        return self.hits / (self.hits + self.misses)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "items": self.items,
            "bytes": self.bytes,
            "limit": self.limit,
            "evictions": self.evictions,
            "servers": {s.server: dict(s.raw) for s in self.servers},
        }


class Admin(abc.ABC):
    """Operations on a whole cache rather than on keys."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Remove every item."""

    @abc.abstractmethod
    def stats(self) -> Stats:
        """Counters per server and in aggregate."""

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """What the cache is: backend, location, servers, limits. Never a secret."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections the admin holds of its own (the backend's close() calls it)."""


__all__ = ["Admin", "ServerStats", "Stats"]
