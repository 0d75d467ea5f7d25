"""``ironcache://`` on asyncio: IronCache's REST API over HTTP/1.1 on asyncio streams.

The same options, keys, values, requests, retries and errors as
:class:`~cacheops.backends.ironcache.IronCacheBackend`: each operation is the same exchange
(:mod:`~cacheops.backends.ironcache_protocol`), here sent with
:class:`~cacheops.http.aclient.AsyncHTTPClient`. ``get_many``, ``put_many`` and
``delete_many`` run their requests concurrently, at most ``max_concurrency`` at a time.
Needs the ``async`` extra (``pip install 'cacheops[async]'``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..admin import ironcache as ironcache_admin
from ..backends.ironcache_protocol import Exchange, IronCacheRules
from ..errors import CacheError
from ..http import HTTPOptions
from ..http.aclient import AsyncHTTPClient
from ..rules import CasToken, Item
from .backend import AsyncAdmin, AsyncBackend

if TYPE_CHECKING:
    from ..admin.base import Stats
    from ..admin.ironcache import CacheInfo, CacheSummary

__all__ = ["AsyncIronCacheAdmin", "AsyncIronCacheBackend"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class AsyncIronCacheBackend(IronCacheRules, AsyncBackend):
    """One IronCache cache, on asyncio. ``ironcache://`` is HTTPS; ``ironcache+http://``
    plain HTTP, for a local server (refused for other hosts unless
    ``allow_insecure_http=True``)."""

    def _open(self, base_url: str, options: HTTPOptions) -> None:
        self._http = AsyncHTTPClient(
            base_url,
            backend=self.scheme,
            auth=self._authorization,
            options=options,
            error_hook=self._error_hook,
        )

    @property
    def http(self) -> AsyncHTTPClient:
        """The async HTTP client (shared with :attr:`admin`)."""
        return self._http

    @property
    def admin(self) -> AsyncIronCacheAdmin:
        """:class:`AsyncIronCacheAdmin` for this project and cache."""
        # Typed for its extra endpoints, as the sync backend's admin.
        return cast("AsyncIronCacheAdmin", super().admin)

    def make_admin(self) -> AsyncAdmin:
        return AsyncIronCacheAdmin(self)

    async def _send(self, exchange: Exchange[_R]) -> _R:
        """Run an exchange (see :mod:`~cacheops.backends.ironcache_protocol`) over HTTP."""
        try:
            request = next(exchange)
            while True:
                try:
                    reply = await self._http.request(
                        request.method,
                        request.path,
                        json=request.json,
                        idempotent=request.idempotent,
                        allow=request.allow,
                        params=request.params,
                    )
                except CacheError as exc:
                    request = exchange.throw(exc)
                else:
                    request = exchange.send(reply)
        except StopIteration as stop:
            return cast("_R", stop.value)

    async def send(self, exchange: Exchange[_R]) -> _R:
        """Run an exchange for the admin (:mod:`cacheops.admin.ironcache`), as the backend's
        own operations run theirs."""
        return await self._send(exchange)

    async def _fan_out(self, call: Callable[[str], Awaitable[_T]], keys: list[str]) -> list[_T]:
        """``call`` on every key concurrently, at most ``max_concurrency`` in flight. The
        first error cancels the calls still running (none is left behind) and is raised."""
        if len(keys) < 2 or self.max_concurrency < 2:
            return [await call(key) for key in keys]
        bound = asyncio.Semaphore(self.max_concurrency)

        async def one(key: str) -> _T:
            async with bound:
                return await call(key)

        tasks = [asyncio.ensure_future(one(key)) for key in keys]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    # -- the hooks

    async def get_item(self, key: str) -> Item | None:
        return await self._send(self._op_get(key))

    async def get_items(self, keys: list[str]) -> dict[str, Item]:
        items = await self._fan_out(self.get_item, keys)
        return {key: item for key, item in zip(keys, items, strict=True) if item is not None}

    async def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        await self._send(self._op_set(key, item, ttl))

    async def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        async def store(key: str) -> bool:
            return await self._send(self._op_set_one_of_many(key, items[key], ttl))

        keys = list(items)
        stored = await self._fan_out(store, keys)
        return [key for key, ok in zip(keys, stored, strict=True) if not ok]

    async def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return await self._send(self._op_add(key, item, ttl))

    async def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return await self._send(self._op_replace(key, item, ttl))

    async def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        return await self._send(self._op_gets(key))

    async def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        return await self._send(self._op_cas(key, item, token, ttl))

    async def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        return await self._send(self._op_incr(key, delta, default))

    async def delete_item(self, key: str) -> bool:
        return await self._send(self._op_delete(key))

    async def delete_items(self, keys: list[str]) -> None:
        await self._fan_out(self.delete_item, keys)

    async def touch_item(self, key: str, ttl: float | None) -> bool:
        return await self._send(self._op_touch(key, ttl))

    async def clear_items(self) -> None:
        await self.clear_cache(self.cache)

    async def clear_cache(self, cache: str) -> None:
        """Remove every item of ``cache`` in this project (a missing cache is empty)."""
        await self._send(self._op_clear(cache))

    # -- lifecycle

    async def aclose(self) -> None:
        await self._http.aclose()
        await super().aclose()

    def after_fork(self) -> None:
        # The parent's sockets are not ours (nor is its event loop).
        self._http.after_fork()


class AsyncIronCacheAdmin(AsyncAdmin):
    """:class:`~cacheops.admin.ironcache.IronCacheAdmin` as coroutines: the same methods,
    requests, records and errors (each one the same exchange or function)."""

    def __init__(self, backend: AsyncIronCacheBackend) -> None:
        self._backend = backend

    def __repr__(self) -> str:
        return f"<AsyncIronCacheAdmin {self._backend.location}>"

    # -- the common interface

    async def flush(self) -> None:
        """Remove every item of the backend's cache."""
        await self._backend.clear()

    async def stats(self) -> Stats:
        """The item count from the cache's info; the other counters are None."""
        return ironcache_admin.stats_of(self._backend, await self.cache_info())

    async def info(self) -> dict[str, Any]:
        """Where the cache is and its limits (no request is made; never the token)."""
        return ironcache_admin.info_of(self._backend)

    # -- IronCache's own endpoints

    async def list_caches(self) -> list[CacheSummary]:
        """Every cache of the project, following the pages to the end."""
        return await self._backend.send(ironcache_admin.list_caches(self._backend))

    async def cache_info(self, name: str | None = None) -> CacheInfo | None:
        """Information about ``name`` (default: the backend's cache); None when the cache
        does not exist."""
        return await self._backend.send(ironcache_admin.cache_info(self._backend, name))

    async def clear(self, name: str | None = None) -> None:
        """Remove every item of ``name`` (default: the backend's cache). Cannot be undone."""
        await self._backend.clear_cache(self._backend.cache if name is None else name)

    async def delete_cache(self, name: str) -> bool:
        """Delete the cache ``name`` and its items; False when there was no such cache."""
        return await self._backend.send(ironcache_admin.delete_cache(self._backend, name))
