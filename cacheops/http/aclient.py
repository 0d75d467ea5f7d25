"""The async transport: :class:`AsyncHTTPClient` over an ``httpx.AsyncClient``.

The same requests, retries and errors as :class:`~cacheops.http.client.HTTPClient`: the
URL, headers and body come from :mod:`cacheops.http.message`, whether and when to resend
from :mod:`cacheops.http.policy`, and what a failure becomes from
:mod:`cacheops.http.mapping`; only the sending is different. ``httpx`` comes with the
``async`` extra (``pip install 'cacheops[async]'``).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from typing import Any

from .._version import __version__
from ..errors import CacheError, ConfigurationError

try:
    import httpx
except ImportError:  # pragma: no cover - exercised in a subprocess without httpx
    raise ConfigurationError(
        "the async HTTP client needs httpx: pip install 'cacheops[async]'"
    ) from None

from .mapping import Unframed, status_error, transport_error
from .message import NO_BODY, Root, encode_body, make_reply, request_headers, require_framed
from .options import HTTPOptions
from .policy import IDEMPOTENT_METHODS, Outcome, next_wait, status_outcome
from .reply import ErrorHook, Reply

__all__ = ["AsyncHTTPClient"]


class AsyncHTTPClient:
    """A JSON-over-HTTP client for one service root, on asyncio; fork-safe.

    Arguments as for :class:`~cacheops.http.HTTPClient`. Connections are pooled per event
    loop (at most ``pool_size`` open; more requests at once wait for one, up to
    ``timeout``), opened on first use and released by :meth:`aclose`.
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
        self._supplier = auth
        self._error_hook = error_hook
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        # An httpx pool belongs to the loop its connections were opened on, and to the
        # process: either changing means a new pool.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<AsyncHTTPClient {self.base_url}>"

    @property
    def user_agent(self) -> str:
        return f"cacheops/{__version__} python-httpx/{httpx.__version__}"

    def client(self) -> httpx.AsyncClient:
        """This loop's and process's ``httpx.AsyncClient``, built on first use."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._pid != os.getpid():
            options = self.options
            self._client = httpx.AsyncClient(
                # TLS verification is httpx's default and there is no switch to turn it off.
                timeout=httpx.Timeout(
                    options.timeout, connect=options.connect_timeout, pool=options.timeout
                ),
                limits=httpx.Limits(
                    max_connections=options.pool_size,
                    max_keepalive_connections=options.pool_size,
                ),
                follow_redirects=False,
            )
            # Requests past the pool wait here rather than in httpcore's queue, whose every
            # change re-checks each pooled connection (a poll per idle one): queued there,
            # 100 concurrent requests cost twice the CPU each.
            self._slots = asyncio.Semaphore(options.pool_size)
            self._loop = loop
            self._pid = os.getpid()
        return self._client

    async def aclose(self) -> None:
        """Close pooled connections; the next request opens new ones."""
        client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                await client.aclose()
        self._loop = None

    def after_fork(self) -> None:
        """In a forked child: forget (never close, never reuse) the parent's pool."""
        self._client = None
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
        client = self.client()
        request = client.build_request(
            method, self.url(path, params), headers=headers, content=body
        )
        exchanged = await self._exchange(client, request, method, path, idempotent)
        if isinstance(exchanged, CacheError):
            raise exchanged  # out here, so that no httpx exception is its __context__
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
        client: httpx.AsyncClient,
        request: httpx.Request,
        method: str,
        path: str,
        idempotent: bool,
    ) -> tuple[int, httpx.Headers, bytes] | CacheError:
        """Send ``request`` and read its whole reply, as many times as the policy says."""
        deadline = time.monotonic() + self.options.retry_deadline
        attempts = 0
        while True:
            attempts += 1
            exchanged: tuple[int, httpx.Headers, bytes] | CacheError
            outcome: Outcome | None
            try:
                assert self._slots is not None  # made with the client
                async with self._slots:
                    exchanged = await _send(client, request, method)
            except (httpx.RequestError, Unframed) as exc:
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


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, method: str
) -> tuple[int, httpx.Headers, bytes]:
    """One attempt: the status, headers and whole body. The body is read here, under the
    same failure table; a reply cut off (or a task cancelled) mid-body closes its
    connection rather than returning it to the pool with an unread rest."""
    response = await client.send(request, stream=True)
    try:
        require_framed(method, response.status_code, response.headers)
        content = await response.aread()
    finally:
        await response.aclose()
    return response.status_code, response.headers, content
