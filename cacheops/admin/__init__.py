"""Admin interfaces: flush, stats and info for every backend, plus the cloud services' APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotSupported
from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backend import Backend
    from .memcachier import MemCachierAPI


def for_url(url: str | None = None, **options: Any) -> Admin:
    """The admin interface of the cache at ``url`` (or the one ``connect()`` would find)."""
    from .. import connect

    return connect(url, **options).admin


def analytics_api(backend: Backend) -> MemCachierAPI:
    """The MemCachier analytics API of ``backend``; NotSupported for other caches."""
    from ..backends.memcache import MemcacheBackend

    if not isinstance(backend, MemcacheBackend) or backend.username is None:
        raise NotSupported(
            "credentials are managed through MemCachier's analytics API: give a "
            "memcachier:// URL, or set MEMCACHIER_SERVERS/_USERNAME/_PASSWORD",
            backend=backend.scheme,
        )
    return backend.analytics_api()


__all__ = ["Admin", "ServerStats", "Stats", "analytics_api", "for_url"]
