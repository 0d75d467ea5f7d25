"""``connect("memcachier://...").admin``: the common flush/stats/info over MemCachier's
analytics API, with the backend's own credentials.

The API's address is the backend's ``api_url`` option (kept, with ``allow_insecure_http``,
in ``backend.admin_options``: the backend never reads them), else ``MEMCACHIER_API_URL``,
else MemCachier's public address. The backend knows nothing of this module.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ...backends.memcache import MemcacheBackend
from ...errors import NotSupported
from ..base import Admin, ServerStats, Stats
from ..memcache import MemcacheAdmin
from .api import MemCachierAPI
from .errors import NoAPICapability

if TYPE_CHECKING:
    from ...backend import Backend

__all__ = ["MemCachierAdmin", "analytics_api"]

log = logging.getLogger("cacheops.admin.memcachier")


def analytics_api(backend: Backend) -> MemCachierAPI:
    """A new client of MemCachier's analytics API with ``backend``'s credentials, at its
    ``api_url`` option; NotSupported for a cache without MemCachier credentials."""
    if not isinstance(backend, MemcacheBackend) or backend.username is None:
        raise NotSupported(
            "credentials are managed through MemCachier's analytics API: give a "
            "memcachier:// URL, or set MEMCACHIER_SERVERS/_USERNAME/_PASSWORD",
            backend=backend.scheme,
        )
    options = backend.admin_options
    return MemCachierAPI(
        backend.username,
        backend.password or "",
        base_url=options.get("api_url"),
        allow_insecure_http=bool(options.get("allow_insecure_http", False)),
    )


class MemCachierAdmin(Admin):
    """``connect("memcachier://...").admin``: flush, stats and info through the analytics
    API with the backend's own credentials (:func:`analytics_api`, made on first use). The
    credential needs the ``api`` capability (and ``flush`` to flush)."""

    def __init__(self, backend: MemcacheBackend) -> None:
        self._backend = backend
        self._api: MemCachierAPI | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemCachierAdmin {self._backend.location}>"

    @property
    def api(self) -> MemCachierAPI:
        """The analytics API client, with every endpoint of both documents."""
        api = self._api
        if api is None:
            with self._lock:
                if self._api is None:
                    self._api = analytics_api(self._backend)
                api = self._api
        return api

    def close(self) -> None:
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.close()

    def flush(self) -> None:
        """v2 flush: every item, whatever its prefix.

        A credential the API refuses outright (no ``api`` capability: MemCachier's own
        article warns the checkbox is easy to miss) flushes with the memcache protocol's
        ``flush_all`` instead, where MemCachier checks the ``flush`` capability itself; a
        warning says so. A refusal of the flush alone (no ``flush`` capability) stands.
        """
        try:
            self.api.flush()
        except NoAPICapability:
            MemcacheAdmin(self._backend).flush()
            log.warning(
                "MemCachier's analytics API refused the credential (no api capability): "
                "flushed with the memcache protocol's flush_all instead"
            )

    def reset_stats(self) -> None:
        """v2 reset_stats."""
        self.api.reset_stats()

    def stats(self) -> Stats:
        """From v1 per-server stats: aggregate hits (``get_hits``), misses
        (``get_misses``), items (``curr_items``), bytes, limit (``limit_maxbytes``) and
        evictions; each server's counters as sent, in ``servers``."""
        per_server = self.api.v1.stats()

        def total(name: str) -> int:
            return sum(getattr(stats, name) for stats in per_server.values())

        return Stats(
            backend=self._backend.scheme,
            hits=total("get_hits"),
            misses=total("get_misses"),
            items=total("curr_items"),
            bytes=total("bytes"),
            limit=total("limit_maxbytes"),
            evictions=total("evictions"),
            servers=tuple(
                ServerStats(server, dict(stats.raw) or stats.as_dict())
                for server, stats in per_server.items()
            ),
        )

    def info(self) -> dict[str, Any]:
        """From v2 info: the cache, its cluster and servers, and its credentials as
        usernames and capabilities only (never a password)."""
        info = self.api.info()
        return {
            "backend": self._backend.scheme,
            "location": self._backend.location,
            "api_url": self.api.base_url,
            "cache_id": info.id,
            "name": info.name,
            "label": info.label,
            "cache_type": info.cache_type,
            "plan": info.plan,
            "provider": info.provider,
            "enabled": info.enabled,
            "cluster_name": info.cluster_name,
            "servers": list(info.servers),
            "credentials": [c.public() for c in info.credentials],
            "can_switch": info.can_switch,
            "can_manage_credentials": info.can_manage_credentials,
            "can_update_capabilities": info.can_update_capabilities,
            "max_value_size": self._backend.max_value_size,
        }
