"""Admin for memcached servers over the protocol: stats, flush_all, stats reset, per server.

MemCachier answers these too, with the limits of the credential (a credential without the
flush capability is refused a flush_all); its analytics API is in ``memcachier.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backends.memcache import LoginClient, MemcacheBackend
    from ..config import Server

_T = TypeVar("_T")


def _number(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def _total(servers: list[dict[str, Any]], name: str) -> int | None:
    values = [_number(raw, name) for raw in servers]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


class MemcacheAdmin(Admin):
    def __init__(self, backend: MemcacheBackend) -> None:
        self._backend = backend

    def _each(self, command: Callable[[LoginClient], _T]) -> dict[Server, _T]:
        """Run ``command`` on every server; errors are the backend's errors."""
        results = {}
        for server in self._backend.servers:
            client = self._backend.node_client(server)
            try:
                results[server] = self._backend._run_on(client, command)
            finally:
                client.close()
        return results

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """Each server's raw ``stats`` counters, by ``host:port``."""
        raw = self._each(lambda c: c.stats())
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
        per_server = self.server_stats()
        raws = list(per_server.values())
        return Stats(
            backend=self._backend.scheme,
            hits=_total(raws, "get_hits"),
            misses=_total(raws, "get_misses"),
            items=_total(raws, "curr_items"),
            bytes=_total(raws, "bytes"),
            limit=_total(raws, "limit_maxbytes"),
            evictions=_total(raws, "evictions"),
            servers=tuple(ServerStats(name, raw) for name, raw in per_server.items()),
        )

    def flush(self) -> None:
        """``flush_all`` on every server (every key, whatever its prefix)."""
        self._each(lambda c: c.flush_all(noreply=False))

    def reset_stats(self) -> None:
        """``stats reset`` on every server."""
        self._each(lambda c: c.raw_command(b"stats reset", end_tokens=b"RESET\r\n"))

    def info(self) -> dict[str, Any]:
        versions = self._each(lambda c: c.version().decode())
        return {
            "backend": self._backend.scheme,
            "location": self._backend.location,
            "servers": {str(server): {"version": version} for server, version in versions.items()},
            "max_value_size": self._backend.max_value_size,
            "item_size": self._backend.item_size,
        }
