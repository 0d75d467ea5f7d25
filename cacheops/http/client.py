"""The sync transport: :class:`HTTPClient` over a ``requests`` session.

Each attempt is sent through the session's adapter with urllib3's own retries off
(``HTTPAdapter(max_retries=0)``), and its reply read whole; the loop in
:meth:`HTTPClient.request` asks :mod:`cacheops.http.policy` whether and when to send it
again, so the retry rules live in one place whatever the transport.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

from .._version import __version__
from ..errors import CacheError
from .base import ClientBase, Request
from .message import NO_BODY, quote_segment, require_framed
from .options import HTTPOptions
from .reply import ErrorHook, Reply

__all__ = ["HTTPClient", "quote_segment"]


class HTTPClient(ClientBase):
    """A JSON-over-HTTP client for one service root, over ``requests``. Thread-safe;
    fork-safe. Arguments: see :class:`~cacheops.http.base.ClientBase`."""

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
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        # Proxies and CA bundle from the environment (HTTPS_PROXY, NO_PROXY,
        # REQUESTS_CA_BUNDLE...), resolved once per session: requests would otherwise scan
        # the whole environment twice on every call, a third of its own per-call cost.
        self._send_settings: dict[str, Any] = {}
        self._pid = os.getpid()

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
        request = self.build(method, path, json=json, params=params, idempotent=idempotent)
        session = self.session()
        headers = dict(session.headers)
        headers.update(request.headers)

        # Prepared by hand rather than by Session.prepare_request, which re-quotes the URL
        # (decoding %2E, then dropping dot-segments: the path is already exactly encoded),
        # may replace the Authorization header with credentials from ~/.netrc, and merges
        # cookie jars this API never uses; that merging was a fifth of the time per call.
        # Sent through the session's adapter rather than Session.send, whose hooks,
        # redirect handling and second pass over the reply's cookies were another third of
        # the time per call, none of them used here.
        prepared = requests.PreparedRequest()
        prepared.prepare_method(request.method)
        prepared.url = request.url
        prepared.prepare_headers(headers)
        prepared.prepare_body(request.body, None)
        exchanged = self._exchange(session, prepared, request)
        if isinstance(exchanged, CacheError):
            raise exchanged  # out here, so that no requests exception is its __context__
        response, content = exchanged
        return self.finish(request, response.status_code, response.headers, content, allow)

    def _exchange(
        self, session: requests.Session, prepared: requests.PreparedRequest, request: Request
    ) -> tuple[requests.Response, bytes] | CacheError:
        """Send ``prepared`` and read its whole reply, as many times as the policy says;
        the last reply, or the error to raise."""
        adapter = session.get_adapter(prepared.url or "")
        timeout = (self.options.connect_timeout, self.options.timeout)
        retrying = self.retrying(request)
        while True:
            exchanged: tuple[requests.Response, bytes] | CacheError
            try:
                response = adapter.send(prepared, timeout=timeout, **self._send_settings)
                exchanged = response, _read_body(response, request.method)
            except (requests.RequestException, ProtocolError) as exc:
                exchanged, outcome = self.failed(request, exc)
            else:
                outcome = self.answered(request, response.status_code, response.headers)
            wait = retrying.wait(outcome)
            if wait is None:
                return exchanged
            time.sleep(wait)


def _read_body(response: requests.Response, method: str) -> bytes:
    """The whole body of ``response``, or the transport error that stopped it."""
    try:
        require_framed(method, response.status_code, response.headers)
        return response.content
    except BaseException:
        response.close()
        raise
