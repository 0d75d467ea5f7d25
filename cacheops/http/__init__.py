"""One HTTP layer for every REST client in cacheops: session, timeouts, retries, errors.

:class:`HTTPClient` is the only place where cacheops talks HTTP. A REST client (the
IronCache backend, the admin clients) gives it a base URL, a function that supplies the
``Authorization`` header, its :class:`HTTPOptions` and, if the service has its own
conventions, an error hook; it gets back :class:`Reply` objects for 2xx answers and errors
from :mod:`cacheops.errors` for everything else.

What every request gets:

- one ``requests.Session`` per process, with a connection pool sized for threaded workers
  (``pool_size``); a forked child builds its own and never touches its parent's sockets.
  The environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
  ``REQUESTS_CA_BUNDLE``...) are read when the session is built (first use, after
  :meth:`HTTPClient.close`, in a forked child), not on every call;
- a connect timeout and a read timeout, always;
- TLS verification (there is no switch to turn it off);
- the credential only in the ``Authorization`` header, never in the URL, and never in a
  message, ``repr`` or exception this package builds;
- a ``User-Agent`` of ``cacheops/<version>``;
- retries with exponential backoff and jitter on what means "not applied" (a 503 or 429,
  a connection that could not be opened) and, for idempotent requests, on a reply lost or
  cut off; never a resend of a non-idempotent request that may have been applied
  (:class:`~cacheops.errors.UnknownOutcome`). The rules, ``Retry-After`` included, are
  :mod:`cacheops.http.policy`: pure functions any transport, sync or async, shares;
- a circuit breaker (:mod:`cacheops.http.breaker`): once a request found the service
  unreachable, requests fail fast for ``breaker_window`` seconds, then one probes it.

The modules: :mod:`~cacheops.http.options` (:class:`HTTPOptions`),
:mod:`~cacheops.http.policy` (whether and when to retry),
:mod:`~cacheops.http.mapping` (the one table of transport failures, and error statuses, to
errors), :mod:`~cacheops.http.reply` (:class:`Reply`), :mod:`~cacheops.http.message`
(the URL, headers, body and reply reading both transports share),
:mod:`~cacheops.http.base` (the client both transports build on: the request, the retry
loop's bookkeeping, what a reply or a failure becomes),
:mod:`~cacheops.http.client` (:class:`HTTPClient`, the sync transport over ``requests``)
and :mod:`~cacheops.http.aclient` (``AsyncHTTPClient``, the async transport: a pool of
HTTP/1.1 connections on asyncio streams, :mod:`~cacheops.http.apool`, with ``h11`` from the
``async`` extra; not imported here, so the sync side never needs it).
"""

from __future__ import annotations

from .client import HTTPClient
from .message import quote_segment
from .options import (
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_BREAKER_WINDOW,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    HTTPOptions,
)
from .policy import IDEMPOTENT_METHODS, RETRY_STATUSES
from .reply import ErrorHook, Reply

__all__ = [
    "DEFAULT_BACKOFF_FACTOR",
    "DEFAULT_BREAKER_WINDOW",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_DEADLINE",
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "ErrorHook",
    "HTTPClient",
    "HTTPOptions",
    "Reply",
    "quote_segment",
]
