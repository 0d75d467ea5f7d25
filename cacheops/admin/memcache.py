"""Admin for memcached servers over the protocol: stats, flush_all, stats reset, per server.

MemCachier answers these too, with the limits of the credential (a credential without the
flush capability is refused a flush_all); its analytics API is in ``memcachier/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backends.memcache import MemcacheBackend


def _number(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def _total(servers: list[dict[str, Any]], name: str) -> int | None:
    values = [_number(raw, name) for raw in servers]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def stats_of(scheme: str, per_server: dict[str, dict[str, Any]]) -> Stats:
    """The aggregate of memcached's raw ``stats``, by server (sync and async admins)."""
    raws = list(per_server.values())
    return Stats(
        backend=scheme,
        hits=_total(raws, "get_hits"),
        misses=_total(raws, "get_misses"),
        items=_total(raws, "curr_items"),
        bytes=_total(raws, "bytes"),
        limit=_total(raws, "limit_maxbytes"),
        evictions=_total(raws, "evictions"),
        servers=tuple(ServerStats(name, raw) for name, raw in per_server.items()),
    )


class MemcacheAdmin(Admin):
    def __init__(self, backend: MemcacheBackend) -> None:
        self._backend = backend

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """Each server's raw ``stats`` counters, by ``host:port``."""
        raw = self._backend.for_each_server(lambda c: c.stats())
        return {
            str(server): {
                (k.decode() if isinstance(k, bytes) else str(k)): (
                    v.decode() if isinstance(v, bytes) else v
                )
                for k, v in stats.items()
            }
            for server, stats in raw.items()
        }

    def stats(self) -> Stats:
        return stats_of(self._backend.scheme, self.server_stats())

    def flush(self) -> None:
        """``flush_all`` on every server (every key, whatever its prefix)."""
        self._backend.clear()

    def reset_stats(self) -> None:
        """``stats reset`` on every server."""
        self._backend.for_each_server(
            lambda c: c.raw_command(b"stats reset", end_tokens=b"RESET\r\n")
        )

    def info(self) -> dict[str, Any]:
        versions = self._backend.for_each_server(lambda c: c.version().decode())
        return {
            "backend": self._backend.scheme,
            "location": self._backend.location,
            "servers": {str(server): {"version": version} for server, version in versions.items()},
            "max_value_size": self._backend.max_value_size,
            "item_size": self._backend.item_size,
        }


__all__ = ["MemcacheAdmin", "stats_of"]
