"""cacheops on asyncio: :func:`connect_async` and :class:`AsyncBackend`.

The same URLs, environment, options, rules and errors as :func:`cacheops.connect`; every
method is a coroutine. Backend modules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..backends import resolve
from ..config import CacheConfig
from ..errors import NotSupported
from .backend import AdminOverSync, AsyncAdmin, AsyncBackend

# scheme -> "module:Class", as cacheops.backends.REGISTRY for the sync side.
REGISTRY: dict[str, str] = {
    "memory": "cacheops.aio.memory:AsyncMemoryBackend",
    "memcached": "cacheops.aio.memcache:AsyncMemcacheBackend",
    "memcachier": "cacheops.aio.memcache:AsyncMemcacheBackend",
    "ironcache": "cacheops.aio.ironcache:AsyncIronCacheBackend",
    "ironcache+http": "cacheops.aio.ironcache:AsyncIronCacheBackend",
}


def backend_class(scheme: str) -> type[AsyncBackend]:
    target = REGISTRY.get(scheme)
    module_name, _, name = (target or "").partition(":")
    try:
        module = importlib.import_module(module_name) if target else None
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a dependency of the module is missing: its own message says which
        module = None
    if module is None:
        raise NotSupported(
            f"the {scheme}:// backend has no async form in this version of cacheops: "
            "use cacheops.connect()",
            backend=scheme,
        )
    cls: type[AsyncBackend] = getattr(module, name)
    return cls


def connect_async(url: str | CacheConfig | None = None, **options: Any) -> AsyncBackend:
    """An async backend for ``url``, or for what the environment names when ``url`` is None
    (see :func:`cacheops.connect`: same URLs, environment and options). Nothing connects
    until the first call; connections belong to the event loop that made them."""
    config = resolve(url)
    return backend_class(config.scheme).from_config(config, **options)


__all__ = [
    "REGISTRY",
    "AdminOverSync",
    "AsyncAdmin",
    "AsyncBackend",
    "backend_class",
    "connect_async",
]
