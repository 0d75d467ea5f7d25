"""cacheops: one cache API over MemCachier, memcached, IronCache and an in-process store."""

from __future__ import annotations

import logging
from typing import Any

from .backend import Backend
from .config import CacheConfig, from_environment, parse_url
from .errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    KeyNotFound,
    NotNumeric,
    NotSupported,
    PermissionDenied,
    SerializationError,
    UnknownOutcome,
    ValueTooLarge,
)

__version__ = "0.1.0"

log = logging.getLogger("cacheops")


def connect(url: str | CacheConfig | None = None, **options: Any) -> Backend:
    """A backend for ``url``, or for what the environment names when ``url`` is None.

    Without a URL: ``CACHEOPS_URL``; else ``MEMCACHIER_SERVERS``/``_USERNAME``/``_PASSWORD``;
    else the IronCache settings the official client reads (``IRON_TOKEN``,
    ``IRON_PROJECT_ID``, ``IRON_CACHE_NAME``, ``iron.json``); else ``memory://`` with a
    warning. Options given here override the URL's query string. Nothing connects until
    the first call, so this is safe at import time.
    """
    from .backends import backend_class

    if isinstance(url, CacheConfig):
        config = url
    elif url is None:
        found = from_environment()
        if found is not None:
            config = found
        else:
            log.warning(
                "no cache configured (CACHEOPS_URL, MEMCACHIER_*, IRON_*): using an "
                "in-process memory:// cache, which is not shared between processes"
            )
            config = CacheConfig("memory", source="default")
    else:
        config = parse_url(url)
    return backend_class(config.scheme).from_config(config, **options)


__all__ = [
    "AuthenticationError",
    "Backend",
    "BackendUnavailable",
    "CacheConfig",
    "CacheError",
    "ConfigurationError",
    "InvalidKey",
    "InvalidTTL",
    "KeyNotFound",
    "NotNumeric",
    "NotSupported",
    "PermissionDenied",
    "SerializationError",
    "UnknownOutcome",
    "ValueTooLarge",
    "__version__",
    "connect",
]
