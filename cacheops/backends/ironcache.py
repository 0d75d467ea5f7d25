"""``ironcache://``: IronCache over its REST API (v1), through :mod:`cacheops.http`.

Every call is one or a few HTTP requests on a pooled, keep-alive session; retries, timeouts
and error mapping all live in :class:`cacheops.http.HTTPClient`. What each operation sends
and how it reads the answers is :mod:`~cacheops.backends.ironcache_protocol`, shared with
the async backend (:mod:`cacheops.aio.ironcache`); this module only sends.

Keys and the cache name are percent-encoded as single path segments
(:func:`cacheops.http.quote_segment`): every distinct key is its own item and no key can
reach another path. IronCache carries any str key without control characters, up to 250
characters.

Values are stored in the format other clients see, described once in
:mod:`~cacheops.backends.ironcache_values` (and ``docs/backends/ironcache.md``): str and
64-bit ints natively, anything else as a marked string.

``gets``/``cas`` use the item's ``cas``, kept as an exact Python int (it can be above
2**53) and sent back unchanged. ``touch`` works: it re-puts the stored value with the new
``expires_in``, guarded by that ``cas``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, cast

from ..backend import Backend, CasToken, Item
from ..errors import CacheError
from ..http import HTTPClient, HTTPOptions
from .ironcache_protocol import Exchange, IronCacheRules
from .ironcache_values import MARKER, MAX_BODY_SIZE, MAX_EXPIRES_IN

if TYPE_CHECKING:
    from ..admin.ironcache import IronCacheAdmin

_T = TypeVar("_T")
_R = TypeVar("_R")


class IronCacheBackend(IronCacheRules, Backend):
    """One IronCache cache. ``ironcache://`` is HTTPS; ``ironcache+http://`` plain HTTP,
    for a local server (refused for other hosts unless ``allow_insecure_http=True``)."""

    def _open(self, base_url: str, options: HTTPOptions) -> None:
        self._http = HTTPClient(
            base_url,
            backend=self.scheme,
            auth=self._authorization,
            options=options,
            error_hook=self._error_hook,
        )
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def http(self) -> HTTPClient:
        """The HTTP client (shared with :attr:`admin`)."""
        return self._http

    @property
    def admin(self) -> IronCacheAdmin:
        """:class:`~cacheops.admin.ironcache.IronCacheAdmin` for this project and cache."""
        # Typed for its extra endpoints; the admin side registers it (see cacheops.admin).
        return cast("IronCacheAdmin", super().admin)

    def _send(self, exchange: Exchange[_R]) -> _R:
        """Run an exchange (see :mod:`~cacheops.backends.ironcache_protocol`) over HTTP."""
        try:
            request = next(exchange)
            while True:
                try:
                    reply = self._http.request(
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

    def send(self, exchange: Exchange[_R]) -> _R:
        """Run an exchange for the admin (:mod:`cacheops.admin.ironcache`), as the backend's
        own operations run theirs."""
        return self._send(exchange)

    def _executor_for_fan_out(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.max_concurrency,
                        thread_name_prefix="cacheops-ironcache",
                    )
                executor = self._executor
        return executor

    def _fan_out(self, call: Callable[[str], _T], keys: list[str]) -> list[_T]:
        """``call`` on every key, at most ``max_concurrency`` requests in flight."""
        if len(keys) < 2 or self.max_concurrency < 2:
            return [call(key) for key in keys]
        return list(self._executor_for_fan_out().map(call, keys))

    # -- the hooks

    def get_item(self, key: str) -> Item | None:
        return self._send(self._op_get(key))

    def get_items(self, keys: list[str]) -> dict[str, Item]:
        items = self._fan_out(self.get_item, keys)
        return {key: item for key, item in zip(keys, items, strict=True) if item is not None}

    def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        self._send(self._op_set(key, item, ttl))

    def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        def store(key: str) -> bool:
            return self._send(self._op_set_one_of_many(key, items[key], ttl))

        keys = list(items)
        return [key for key, ok in zip(keys, self._fan_out(store, keys), strict=True) if not ok]

    def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return self._send(self._op_add(key, item, ttl))

    def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return self._send(self._op_replace(key, item, ttl))

    def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        return self._send(self._op_gets(key))

    def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        return self._send(self._op_cas(key, item, token, ttl))

    def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        return self._send(self._op_incr(key, delta, default))

    def delete_item(self, key: str) -> bool:
        return self._send(self._op_delete(key))

    def delete_items(self, keys: list[str]) -> None:
        self._fan_out(self.delete_item, keys)

    def touch_item(self, key: str, ttl: float | None) -> bool:
        return self._send(self._op_touch(key, ttl))

    def clear_items(self) -> None:
        self.clear_cache(self.cache)

    def clear_cache(self, cache: str) -> None:
        """Remove every item of ``cache`` in this project (a missing cache is empty)."""
        self._send(self._op_clear(cache))

    # -- lifecycle

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self._http.close()
        super().close()

    def after_fork(self) -> None:
        # The parent's worker threads do not exist here and its sockets are not ours.
        self._lock = threading.Lock()
        self._executor = None
        self._http.after_fork()


__all__ = ["MARKER", "MAX_BODY_SIZE", "MAX_EXPIRES_IN", "IronCacheBackend"]
