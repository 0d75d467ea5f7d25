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
import random
import time
from collections.abc import Callable, Collection
from datetime import datetime, timezone
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
from .mapping import AsyncTransportError, Unframed, status_error, transport_error
from .message import NO_BODY, Root, encode_body, make_reply, request_headers
from .options import HTTPOptions
from .policy import IDEMPOTENT_METHODS, Outcome, next_wait, status_outcome
from .reply import ErrorHook, Reply

_H11_VERSION = metadata.version("h11")
__all__ = ["AsyncHTTPClient"]


class AsyncHTTPClient:
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
        options = HTTPOptions() if options is None else options
        self.root = Root.parse(base_url, backend, options)
        self.base_url = self.root.base_url
        self.backend = backend
        self.options = options
        #: ``host:port``, as errors name it.
        self.server = self.root.server
        refuse_proxy(self.base_url, backend)
        self._supplier = auth
        self._error_hook = error_hook
        self._pool: Pool | None = None
        # A pool belongs to the loop its connections were opened on, and to the process:
        # either changing means a new pool.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<AsyncHTTPClient {self.base_url}>"

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

    def url(self, path: str = "", params: Any = None) -> str:
        return self.root.url(path, params)

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
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        body = (
            None if json is NO_BODY else encode_body(json, self.options, self.backend, self.server)
        )
        headers = request_headers(self.user_agent, self._supplier, body is not None)
        pool = self.pool()
        target = pool.target(self.url(path, params))
        exchanged = await self._exchange(pool, method, target, headers, body, path, idempotent)
        if isinstance(exchanged, CacheError):
            raise exchanged  # out here, so that no transport exception is its __context__
        status, reply_headers, content = exchanged
        reply = make_reply(status, reply_headers, content, self._supplier)
        if reply.ok:
            return reply
        if self._error_hook is not None:
            error = self._error_hook(reply, method, path)
            if error is not None:
                raise error
        if reply.status in allow:
            return reply
        raise status_error(
            reply,
            method,
            path,
            idempotent=idempotent,
            backend=self.backend,
            server=self.server,
            options=self.options,
        )

    async def _exchange(
        self,
        pool: Pool,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        path: str,
        idempotent: bool,
    ) -> Exchanged | CacheError:
        """Send the request and read its whole reply, as many times as the policy says."""
        deadline = time.monotonic() + self.options.retry_deadline
        attempts = 0
        while True:
            attempts += 1
            exchanged: Exchanged | CacheError
            outcome: Outcome | None
            try:
                exchanged = await pool.send(method, target, headers, body)
            except (AsyncTransportError, Unframed) as exc:
                exchanged, failure = transport_error(
                    exc,
                    method,
                    path,
                    idempotent=idempotent,
                    backend=self.backend,
                    server=self.server,
                    options=self.options,
                )
                outcome = failure.outcome
            else:
                outcome = status_outcome(exchanged[0], exchanged[1].get("Retry-After"))
            if outcome is None:
                return exchanged
            wait = next_wait(
                self.options,
                outcome,
                attempts=attempts,
                idempotent=idempotent,
                time_left=deadline - time.monotonic(),
                now=datetime.now(timezone.utc),
                jitter=random.random(),
            )
            if wait is None:
                return exchanged
            await asyncio.sleep(wait)
