"""The async transport: :class:`AsyncHTTPClient` over HTTP/1.1 on asyncio streams.

The same requests, retries and errors as :class:`~cacheops.http.client.HTTPClient`: the
URL, headers and body come from :mod:`cacheops.http.message`, whether and when to resend
from :mod:`cacheops.http.policy`, and what a failure becomes from
:mod:`cacheops.http.mapping`; only the sending is different: a keep-alive pool per event
loop (:mod:`cacheops.http.apool`, on ``h11``, which comes with the ``async`` extra:
``pip install 'cacheops[async]'``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection
from importlib import metadata
from typing import Any

from .._version import __version__
from ..errors import CacheError, ConfigurationError

try:
    import h11  # noqa: F401 - only to tell the user early that it is missing
except ImportError:  # pragma: no cover - exercised in a subprocess without h11
    raise ConfigurationError(
        "the async HTTP client needs h11: pip install 'cacheops[async]'"
    ) from None

from .apool import Exchanged, Pool, refuse_proxy
from .base import ClientBase, Request
from .mapping import AsyncTransportError, Unframed
from .message import NO_BODY
from .options import HTTPOptions
from .reply import ErrorHook, Reply

_H11_VERSION = metadata.version("h11")
__all__ = ["AsyncHTTPClient"]


class AsyncHTTPClient(ClientBase):
    """A JSON-over-HTTP client for one service root, on asyncio; fork-safe.

    Arguments as for :class:`~cacheops.http.HTTPClient`. Connections are pooled per event
    loop (at most ``pool_size`` open, and as many requests in flight; more wait for a free
    connection, up to ``timeout``), opened on first use and released by :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        backend: str,
        auth: Callable[[], str | None] | None = None,
        options: HTTPOptions | None = None,
        error_hook: ErrorHook | None = None,
    ) -> None:
        super().__init__(
            base_url, backend=backend, auth=auth, options=options, error_hook=error_hook
        )
        refuse_proxy(self.base_url, backend)
        self._pool: Pool | None = None
        # A pool belongs to the loop its connections were opened on, and to the process:
        # either changing means a new pool.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()

    @property
    def user_agent(self) -> str:
        return f"cacheops/{__version__} python-h11/{_H11_VERSION}"

    def pool(self) -> Pool:
        """This loop's and process's connection pool, built on first use."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop or self._pid != os.getpid():
            self._pool = Pool(self.base_url, self.options)
            self._loop = loop
            self._pid = os.getpid()
        return self._pool

    async def aclose(self) -> None:
        """Close pooled connections; the next request opens new ones."""
        pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                await pool.aclose()
        self._loop = None

    def after_fork(self) -> None:
        """In a forked child: forget (never close, never reuse) the parent's pool."""
        self._pool = None
        self._loop = None
        self._pid = os.getpid()

    async def request(
        self,
        method: str,
        path: str = "",
        *,
        json: Any = NO_BODY,
        params: Any = None,
        idempotent: bool | None = None,
        allow: Collection[int] = (),
    ) -> Reply:
        """As :meth:`HTTPClient.request <cacheops.http.HTTPClient.request>`."""
        request = self.build(method, path, json=json, params=params, idempotent=idempotent)
        pool = self.pool()
        exchanged = await self._exchange(pool, request)
        if isinstance(exchanged, CacheError):
            raise exchanged  # out here, so that no transport exception is its __context__
        status, headers, content = exchanged
        return self.finish(request, status, headers, content, allow)

    async def _exchange(self, pool: Pool, request: Request) -> Exchanged | CacheError:
        """Send the request and read its whole reply, as many times as the policy says."""
        target = pool.target(request.url)
        retrying = self.retrying(request)
        while True:
            exchanged: Exchanged | CacheError
            try:
                exchanged = await pool.send(request.method, target, request.headers, request.body)
            except (AsyncTransportError, Unframed) as exc:
                exchanged, outcome = self.failed(request, exc)
            else:
                outcome = self.answered(request, exchanged[0], exchanged[1])
            wait = retrying.wait(outcome)
            if wait is None:
                return exchanged
            await asyncio.sleep(wait)
