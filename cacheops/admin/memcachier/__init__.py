"""MemCachier's analytics API, v1 and v2, and the admin of a ``memcachier://`` cache.

- :mod:`~cacheops.admin.memcachier.records`: the typed records, decoded from JSON by one
  field-driven decoder;
- :mod:`~cacheops.admin.memcachier.api`: :class:`MemCachierAPI` (v2, and v1 as its ``v1``),
  each operation both versions share written once;
- :mod:`~cacheops.admin.memcachier.transport` and :mod:`~cacheops.admin.memcachier.errors`:
  requests, the cache id, and what the API's error statuses mean;
- :mod:`~cacheops.admin.memcachier.admin`: :class:`MemCachierAdmin` and
  :func:`analytics_api`, built from a backend's public credentials and ``api_url`` option.
"""

from __future__ import annotations

from .admin import MemCachierAdmin, analytics_api
from .api import BACKEND, DEFAULT_BASE_URL, MemCachierAPI, MemCachierV1
from .records import (
    STATS_COUNTERS,
    Alert,
    CacheInfo,
    CacheStats,
    Capabilities,
    Credential,
    DeliveryConfig,
    HistoryEntry,
    KeyStats,
    LogLine,
    PopularItems,
    Popularity,
    Prefix,
    Series,
    format_time,
    parse_time,
)

__all__ = [
    "BACKEND",
    "DEFAULT_BASE_URL",
    "STATS_COUNTERS",
    "Alert",
    "CacheInfo",
    "CacheStats",
    "Capabilities",
    "Credential",
    "DeliveryConfig",
    "HistoryEntry",
    "KeyStats",
    "LogLine",
    "MemCachierAPI",
    "MemCachierAdmin",
    "MemCachierV1",
    "PopularItems",
    "Popularity",
    "Prefix",
    "Series",
    "analytics_api",
    "format_time",
    "parse_time",
]
