"""The admin of an async memcached backend, over the protocol on every server: ``flush_all``,
``stats``, ``version``, as :class:`cacheops.admin.memcache.MemcacheAdmin` (also for
``memcachier://``, whose credentials answer these with their own limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..admin.memcache import stats_of
from ..backends.memcache_proto import raise_error
from .backend import AsyncAdmin
from .memcache_pool import Connection

if TYPE_CHECKING:
    from ..admin.base import Stats
    from .memcache import AsyncMemcacheBackend


async def _version(conn: Connection) -> str:
    line = await conn.line(b"version\r\n")
    if not line.startswith(b"VERSION "):
        raise_error(line, b"version")
    return line[8:].decode("ascii", "replace")


class AsyncMemcacheAdmin(AsyncAdmin):
    def __init__(self, backend: AsyncMemcacheBackend) -> None:
        self._backend = backend

    async def flush(self) -> None:
        """``flush_all`` on every server (every key, whatever its prefix)."""
        await self._backend.clear()

    async def server_stats(self) -> dict[str, dict[str, Any]]:
        """Each server's raw ``stats`` counters, by ``host:port``."""
        raw = await self._backend.for_each_server(lambda c: c.stats())
        return {str(server): dict(stats) for server, stats in raw.items()}

    async def stats(self) -> Stats:
        return stats_of(self._backend.scheme, await self.server_stats())

    async def info(self) -> dict[str, Any]:
        versions = await self._backend.for_each_server(_version)
        return {
            "backend": self._backend.scheme,
            "location": self._backend.location,
            "servers": {str(server): {"version": version} for server, version in versions.items()},
            "max_value_size": self._backend.max_value_size,
            "item_size": self._backend.item_size,
        }


__all__ = ["AsyncMemcacheAdmin"]
