"""Backends by URL scheme, imported on first use so unused clients cost nothing."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from ..backend import Backend
from ..config import CacheConfig, from_environment, parse_url
from ..errors import ConfigurationError

log = logging.getLogger("cacheops")

# scheme -> "module:Class"; None marks a scheme this version parses but cannot serve yet.
REGISTRY: dict[str, str | None] = {
    "memory": "cacheops.backends.memory:MemoryBackend",
    "memcached": "cacheops.backends.memcache:MemcacheBackend",
    "memcachier": "cacheops.backends.memcache:MemcacheBackend",
    "ironcache": "cacheops.backends.ironcache:IronCacheBackend",
    "ironcache+http": "cacheops.backends.ironcache:IronCacheBackend",
}


def backend_class(scheme: str) -> type[Backend]:
    target = REGISTRY.get(scheme)
    if target is None:
        raise ConfigurationError(
            f"the {scheme}:// backend is not available in this version of cacheops"
        )
    module, _, name = target.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


def connect(url: str | CacheConfig | None = None, **options: Any) -> Backend:
    """A backend for ``url``, or for what the environment names when ``url`` is None.

    Without a URL: ``CACHEOPS_URL``; else ``MEMCACHIER_SERVERS``/``_USERNAME``/``_PASSWORD``;
    else the IronCache settings the official client reads (``IRON_TOKEN``,
    ``IRON_PROJECT_ID``, ``IRON_CACHE_NAME``, ``iron.json``); else ``memory://`` with a
    warning. Options given here override the URL's query string. Nothing connects until
    the first call, so this is safe at import time.
    """
    config = resolve(url)
    return backend_class(config.scheme).from_config(config, **options)


def resolve(url: str | CacheConfig | None) -> CacheConfig:
    """The location ``connect(url)`` uses (shared with ``connect_async``)."""
    if isinstance(url, CacheConfig):
        return url
    if url is not None:
        return parse_url(url)
    found = from_environment()
    if found is not None:
        return found
    log.warning(
        "no cache configured (CACHEOPS_URL, MEMCACHIER_*, IRON_*): using an "
        "in-process memory:// cache, which is not shared between processes"
    )
    return CacheConfig("memory", source="default")


__all__ = ["REGISTRY", "backend_class", "connect", "resolve"]
