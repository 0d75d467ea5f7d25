"""Admin for IronCache: the common flush/stats/info, plus the cache management endpoints.

It runs its requests through the backend (session, retries, errors), so it needs no
credentials of its own: ``connect("ironcache://...").admin``. Each endpoint is written once,
as an exchange (see :mod:`~cacheops.backends.ironcache_protocol`) or a pure function, which
this admin and :class:`~cacheops.aio.ironcache.AsyncIronCacheAdmin` both run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CacheError
from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backends.ironcache import IronCacheBackend
    from ..backends.ironcache_protocol import Exchange, IronCacheRules, Request
    from ..http import Reply

log = logging.getLogger("cacheops")

#: Pagination limits of the IronCache API: ``per_page`` and ``page`` are at most 100.
PER_PAGE = 100
MAX_PAGE = 100


@dataclass(frozen=True)
class CacheSummary:
    """One entry of the project's cache list."""

    name: str
    project_id: str


@dataclass(frozen=True)
class CacheInfo:
    """What IronCache says about one cache. ``size`` is its number of items."""

    name: str
    size: int | None
    raw: Mapping[str, Any] = field(default_factory=dict)


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def cache_info_of(name: str, reply: Reply) -> CacheInfo | None:
    """The :class:`CacheInfo` in the reply to ``GET caches/NAME`` (allowing 404)."""
    if reply.status == 404:
        return None
    raw = reply.data if isinstance(reply.data, dict) else {}
    return CacheInfo(name, _as_int(raw.get("size")), raw)


def stats_of(backend: IronCacheRules, info: CacheInfo | None) -> Stats:
    """Stats from a cache's info (sync and async admins alike)."""
    raw: dict[str, Any] = dict(info.raw) if info is not None else {"size": 0}
    return Stats(
        backend=backend.scheme,
        items=info.size if info is not None else 0,
        servers=(ServerStats(backend.server, raw),),
    )


def info_of(backend: IronCacheRules) -> dict[str, Any]:
    """What an IronCache backend is (sync or async); never the token."""
    return {
        "backend": backend.scheme,
        "location": backend.location,
        "server": backend.server,
        "project_id": backend.project_id,
        "cache": backend.cache,
        "api_version": backend.api_version,
        "max_value_size": backend.max_value_size,
        "max_ttl": backend.max_ttl,
        "max_key_length": backend.max_key_length,
    }


def _request(method: str, path: str, **options: Any) -> Request:
    # Imported here: the protocol (and requests with it) loads with a backend, never with
    # ``import cacheops``, which imports this module.
    from ..backends.ironcache_protocol import Request

    return Request(method, path, **options)


def list_caches(backend: IronCacheRules) -> Exchange[list[CacheSummary]]:
    """Every cache of the project, following the pages to the end."""
    caches: list[CacheSummary] = []
    for page in range(MAX_PAGE + 1):
        reply = yield _request("GET", "caches", params={"page": page, "per_page": PER_PAGE})
        entries = reply.data if isinstance(reply.data, list) else None
        if entries is None:
            raise CacheError(
                "IronCache answered the cache list with something other than a list",
                backend=backend.scheme,
                server=backend.server,
                status=reply.status,
            )
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                project = entry.get("project_id")
                caches.append(
                    CacheSummary(
                        entry["name"], project if isinstance(project, str) else backend.project_id
                    )
                )
        if len(entries) < PER_PAGE:
            return caches
    log.warning(
        "IronCache lists at most %d pages of %d caches; the project has more",
        MAX_PAGE + 1,
        PER_PAGE,
    )
    return caches


def cache_info(backend: IronCacheRules, name: str | None) -> Exchange[CacheInfo | None]:
    """Information about ``name`` (default: the backend's cache); None when it does not exist."""
    name = backend.cache if name is None else name
    return cache_info_of(name, (yield _request("GET", backend.cache_path(name), allow=(404,))))


def delete_cache(backend: IronCacheRules, name: str) -> Exchange[bool]:
    """Delete the cache ``name`` and its items; False when there was no such cache."""
    reply = yield _request("DELETE", backend.cache_path(name), allow=(404,))
    return reply.ok


class IronCacheAdmin(Admin):
    """Operations on IronCache caches of the backend's project."""

    def __init__(self, backend: IronCacheBackend) -> None:
        self._backend = backend

    def __repr__(self) -> str:
        return f"<IronCacheAdmin {self._backend.location}>"

    # -- the common interface

    def flush(self) -> None:
        """Remove every item of the backend's cache."""
        self._backend.clear()

    def stats(self) -> Stats:
        """The item count from the cache's info; IronCache keeps no hit, miss, byte or
        eviction counters, so those are None."""
        return stats_of(self._backend, self.cache_info())

    def info(self) -> dict[str, Any]:
        """Where the cache is and its limits (no request is made; never the token)."""
        return info_of(self._backend)

    # -- IronCache's own endpoints

    def list_caches(self) -> list[CacheSummary]:
        """Every cache of the project, following the pages to the end."""
        return self._backend.send(list_caches(self._backend))

    def cache_info(self, name: str | None = None) -> CacheInfo | None:
        """Information about ``name`` (default: the backend's cache); None when the cache
        does not exist (IronCache creates a cache on its first put)."""
        return self._backend.send(cache_info(self._backend, name))

    def clear(self, name: str | None = None) -> None:
        """Remove every item of ``name`` (default: the backend's cache). Cannot be undone."""
        self._backend.clear_cache(self._backend.cache if name is None else name)

    def delete_cache(self, name: str) -> bool:
        """Delete the cache ``name`` and its items; False when there was no such cache.
        The name is required: deleting a cache is never a default."""
        return self._backend.send(delete_cache(self._backend, name))


__all__ = [
    "MAX_PAGE",
    "PER_PAGE",
    "CacheInfo",
    "CacheSummary",
    "IronCacheAdmin",
    "cache_info",
    "cache_info_of",
    "delete_cache",
    "info_of",
    "list_caches",
    "stats_of",
]
