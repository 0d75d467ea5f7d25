"""The sync transport: :class:`HTTPClient` over a ``requests`` session.

Each attempt is sent through the session's adapter with urllib3's own retries off
(``HTTPAdapter(max_retries=0)``), and its reply read whole; the loop in
:meth:`HTTPClient.request` asks :mod:`cacheops.http.policy` whether and when to send it
again, so the retry rules live in one place whatever the transport.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timezone
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

from .._version import __version__
from ..errors import CacheError
from .mapping import status_error, transport_error
from .message import (
    NO_BODY,
    Root,
    encode_body,
    make_reply,
    quote_segment,
    request_headers,
    require_framed,
)
from .options import HTTPOptions
from .policy import IDEMPOTENT_METHODS, Outcome, next_wait, status_outcome
from .reply import ErrorHook, Reply

__all__ = ["HTTPClient", "quote_segment"]


class HTTPClient:
    """A JSON-over-HTTP client for one service root. Thread-safe; fork-safe.

    ``auth`` returns the whole ``Authorization`` header value (``"OAuth <token>"``) and is
    called for every request, so a credential can rotate. ``options`` (an
    :class:`~cacheops.http.HTTPOptions`) sets timeouts, retries, the pool and the largest
    request body. ``error_hook`` maps a non-2xx reply to a service-specific error first.
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
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        # Proxies and CA bundle from the environment (HTTPS_PROXY, NO_PROXY,
        # REQUESTS_CA_BUNDLE...), resolved once per session: requests would otherwise scan
        # the whole environment twice on every call, a third of its own per-call cost.
        self._send_settings: dict[str, Any] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<HTTPClient {self.base_url}>"

    @property
    def user_agent(self) -> str:
        return f"cacheops/{__version__} python-requests/{requests.__version__}"

    # -- session lifecycle

    def session(self) -> requests.Session:
        """This process's session, built on first use."""
        session = self._session
        if session is not None and self._pid == os.getpid():
            return session
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                # A forked child (even one whose fork hook did not run) never reuses the
                # parent's pooled sockets: they would interleave two processes' requests.
                session = self._new_session()
                self._send_settings = dict(
                    session.merge_environment_settings(self.base_url + "/", {}, None, None, None)
                )
                self._session = session
                self._pid = os.getpid()
            return self._session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = self.user_agent
        session.headers["Accept"] = "application/json"
        # No retries inside urllib3: every attempt comes back here, to the one policy.
        adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=self.options.pool_size, max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close pooled connections; the next request opens new ones."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    def after_fork(self) -> None:
        """In a forked child: forget (never close, never reuse) the parent's session."""
        self._lock = threading.Lock()
        self._session = None
        self._pid = os.getpid()

    # -- requests

    def url(self, path: str = "", params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of ``path`` (already encoded, see :func:`quote_segment`)."""
        return self.root.url(path, params)

    def request(
        self,
        method: str,
        path: str = "",
        *,
        json: Any = NO_BODY,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        allow: Collection[int] = (),
    ) -> Reply:
        """Send one request (retrying as :mod:`cacheops.http.policy` says) and return its
        reply.

        A 2xx reply, or one whose status is in ``allow``, is returned; any other status
        raises. ``idempotent`` defaults by method (GET, HEAD, OPTIONS, PUT, DELETE are);
        pass ``False`` for a conditional write whose answer would be wrong if resent.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path, params)
        session = self.session()
        body = (
            None if json is NO_BODY else encode_body(json, self.options, self.backend, self.server)
        )
        headers = dict(session.headers)
        headers.update(request_headers(self.user_agent, self._supplier, body is not None))

        # Prepared by hand rather than by Session.prepare_request, which re-quotes the URL
        # (decoding %2E, then dropping dot-segments: the path is already exactly encoded),
        # may replace the Authorization header with credentials from ~/.netrc, and merges
        # cookie jars this API never uses; that merging was a fifth of the time per call.
        # Sent through the session's adapter rather than Session.send, whose hooks,
        # redirect handling and second pass over the reply's cookies were another third of
        # the time per call, none of them used here.
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = url
        prepared.prepare_headers(headers)
        prepared.prepare_body(body, None)
        exchanged = self._exchange(session, prepared, method, path, idempotent)
        if isinstance(exchanged, CacheError):
            raise exchanged  # out here, so that no requests exception is its __context__

        response, content = exchanged
        reply = make_reply(response.status_code, response.headers, content, self._supplier)
        if reply.ok:
            return reply
        if self._error_hook is not None:
            error = self._error_hook(reply, method, path)
            if error is not None:
                raise error
        if reply.status in allow:
            return reply
        raise self.status_error(reply, method, path, idempotent=idempotent)

    def _exchange(
        self,
        session: requests.Session,
        prepared: requests.PreparedRequest,
        method: str,
        path: str,
        idempotent: bool,
    ) -> tuple[requests.Response, bytes] | CacheError:
        """Send ``prepared`` and read its whole reply, as many times as the policy says;
        the last reply, or the error to raise (returned, not raised, so that it is raised
        outside the ``except`` block holding the request and its credential)."""
        adapter = session.get_adapter(prepared.url or "")
        timeout = (self.options.connect_timeout, self.options.timeout)
        deadline = time.monotonic() + self.options.retry_deadline
        attempts = 0
        while True:
            attempts += 1
            exchanged: tuple[requests.Response, bytes] | CacheError
            outcome: Outcome | None
            try:
                response = adapter.send(prepared, timeout=timeout, **self._send_settings)
                exchanged = response, _read_body(response, method)
            except (requests.RequestException, ProtocolError) as exc:
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
                outcome = status_outcome(response.status_code, response.headers.get("Retry-After"))
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
            time.sleep(wait)

    def status_error(
        self, reply: Reply, method: str, path: str, *, idempotent: bool = True
    ) -> CacheError:
        """The standard error for a non-2xx reply (see :mod:`cacheops.http.mapping`)."""
        return status_error(
            reply,
            method,
            path,
            idempotent=idempotent,
            backend=self.backend,
            server=self.server,
            options=self.options,
        )


def _read_body(response: requests.Response, method: str) -> bytes:
    """The whole body of ``response``, or the transport error that stopped it."""
    try:
        require_framed(method, response.status_code, response.headers)
        return response.content
    except BaseException:
        response.close()
        raise
