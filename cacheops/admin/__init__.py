"""Admin interfaces: flush, stats and info for every backend, plus the cloud services' APIs.

Importing this package (``import cacheops`` does) registers the admin of each built-in
backend, by the backend's dotted name so that no backend client is imported before use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..backend import Backend, register_admin
from .base import Admin, ServerStats, Stats
from .ironcache import IronCacheAdmin
from .memcache import MemcacheAdmin
from .memory import MemoryAdmin

if TYPE_CHECKING:
    from ..backends.memcache import MemcacheBackend
    from .memcachier import MemCachierAPI


def for_url(url: str | None = None, **options: Any) -> Admin:
    """The admin interface of the cache at ``url`` (or the one ``connect()`` would find)."""
    from ..backends import connect

    return connect(url, **options).admin


def analytics_api(backend: Backend) -> MemCachierAPI:
    """A new client of the MemCachier analytics API of ``backend`` (its credentials, its
    ``api_url`` option); NotSupported for other caches."""
    # Loaded on use: the API client (and requests) only for memcachier://.
    from .memcachier import analytics_api as build

    return build(backend)


def _memcache_admin(backend: MemcacheBackend) -> Admin:
    if backend.username is None:
        return MemcacheAdmin(backend)
    # Only memcachier:// has the analytics API: its client (and requests) loads only then.
    from .memcachier import MemCachierAdmin

    return MemCachierAdmin(backend)


register_admin("cacheops.backends.memory.MemoryBackend", MemoryAdmin)
register_admin("cacheops.backends.memcache.MemcacheBackend", _memcache_admin)
register_admin("cacheops.backends.ironcache.IronCacheBackend", IronCacheAdmin)

__all__ = ["Admin", "ServerStats", "Stats", "analytics_api", "for_url", "register_admin"]
