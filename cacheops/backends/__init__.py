"""Backends by URL scheme, imported on first use so unused clients cost nothing."""

from __future__ import annotations

import importlib

from ..backend import Backend
from ..errors import ConfigurationError

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
