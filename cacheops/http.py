"""One HTTP layer for every REST client in cacheops: session, timeouts, retries, errors.

:class:`HTTPClient` is the only place where cacheops talks HTTP. A REST client (the
IronCache backend, the admin clients) gives it a base URL, a function that supplies the
``Authorization`` header and, if the service has its own conventions, an error hook; it
gets back :class:`Reply` objects for 2xx answers and errors from :mod:`cacheops.errors`
for everything else.

What every request gets:

- one ``requests.Session`` per process, with a connection pool sized for threaded workers
  (``pool_size``); a forked child builds its own and never touches its parent's sockets.
  The environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
  ``REQUESTS_CA_BUNDLE``...) are read when the session is built (first use, after
  :meth:`HTTPClient.close`, in a forked child), not on every call;
- a connect timeout and a read timeout, always;
- TLS verification (there is no switch to turn it off);
- the credential only in the ``Authorization`` header, never in the URL, and never in a
  message, ``repr`` or exception this module builds;
- a ``User-Agent`` of ``cacheops/<version>``;
- retries with exponential backoff and jitter, through urllib3's ``Retry`` mounted on the
  adapter, on what means "not applied": a 503 (or 429) and a connection that could not be
  opened. ``Retry-After`` is honoured. Retries are bounded by count (``retries``) and by
  time (``retry_deadline``: no new attempt starts, and no wait runs, past it).

What is never retried: a *non-idempotent* request (``idempotent=False``; by default POST
and PATCH) whose connection broke or timed out after it was sent. The server may have
applied it, so it is not resent and :class:`~cacheops.errors.UnknownOutcome` is raised. A
503 or a refused connection still retries such a request: neither applies anything.
"""

from __future__ import annotations

import json as _json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import takewhile
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from .config import Server
from .errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    PermissionDenied,
    UnknownOutcome,
    ValueTooLarge,
)

if TYPE_CHECKING:
    from typing_extensions import Self
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_DEADLINE",
    "DEFAULT_TIMEOUT",
    "ErrorHook",
    "HTTPClient",
    "Reply",
    "quote_segment",
]

DEFAULT_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DEADLINE = 10.0
DEFAULT_BACKOFF_FACTOR = 0.1
DEFAULT_POOL_SIZE = 16

#: Methods that may be resent after a broken connection unless the caller says otherwise.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers that mean "not applied, come back later".
RETRY_STATUSES = frozenset({429, 503})

_NO_BODY: Any = object()
_MESSAGE_LIMIT = 300


def quote_segment(text: str) -> str:
    """``text`` as one URL path segment: every character outside RFC 3986's unreserved set
    is percent-encoded (UTF-8), so ``/``, ``?``, ``#``, ``%`` and ``+`` cannot change the
    path and a space is ``%20``, never ``+``.

    A segment that is exactly ``.`` or ``..`` is sent as ``%2E`` / ``%2E%2E``: as literal
    dots it would be a dot-segment, which HTTP stacks (requests among them) resolve,
    sending the request to the parent resource.
    """
    encoded = quote(text, safe="")
    if encoded in (".", ".."):
        return encoded.replace(".", "%2E")
    return encoded


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, decoded JSON body (None when the body is not JSON) and
    headers."""

    status: int
    data: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str | None:
        """The server's own words: ``{"msg": ...}`` when it sent one, else the start of
        the body."""
        if isinstance(self.data, dict) and isinstance(self.data.get("msg"), str):
            return str(self.data["msg"])[:_MESSAGE_LIMIT]
        text = self.text.strip()
        return text[:_MESSAGE_LIMIT] or None


#: ``hook(reply, method, path)``: a service-specific error for a non-2xx reply, or None
#: to fall through to the ``allow`` list and then to the standard mapping.
ErrorHook = Callable[[Reply, str, str], "CacheError | None"]


# -- retries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    """What the retry policy must know about the request in flight."""

    deadline: float  # time.monotonic() after which nothing new starts
    idempotent: bool


# urllib3 runs a request (and its retries) synchronously in the calling thread, so the
# request's own policy reaches the Retry object through a context variable. That keeps one
# adapter (and one connection pool) for every kind of request.
_attempt: ContextVar[_Attempt | None] = ContextVar("cacheops_http_attempt", default=None)


class _Retry(Retry):
    """urllib3's Retry, plus: the per-request deadline, "never resend a non-idempotent
    request that may have been applied", a first retry that also backs off, and
    fractional ``Retry-After`` values."""

    RETRY_AFTER_STATUS_CODES = RETRY_STATUSES

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        attempt = _attempt.get()
        if (
            error is not None
            and attempt is not None
            and not attempt.idempotent
            and not self._is_connection_error(error)
        ):
            # Sent, then the connection broke or the reply did not come in time: the
            # server may have applied it. Re-raise as is; HTTPClient turns it into
            # UnknownOutcome. (A connection error means it was never sent: retried.)
            raise error.with_traceback(_stacktrace)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if (
            attempt is not None
            and time.monotonic() + new._planned_wait(response) > attempt.deadline
        ):
            # Waiting would end past the deadline: give up now rather than sleep and fail.
            reason = error or ResponseError("retry deadline reached")
            raise MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        return new

    def _planned_wait(self, response: BaseHTTPResponse | None) -> float:
        """The least the next wait will be (the jitter only adds to it)."""
        if response is not None and self.respect_retry_after_header:
            after = self.get_retry_after(response)
            if after:
                return after
        return self._backoff(jitter=False)

    def _backoff(self, *, jitter: bool) -> float:
        errors = len(list(takewhile(lambda h: h.redirect_location is None, reversed(self.history))))
        if errors == 0:
            return 0.0
        # urllib3 does not wait before the first retry; a 503 asks for backoff from the start.
        value = self.backoff_factor * 2 ** (errors - 1)
        if jitter and self.backoff_jitter:
            value += random.uniform(0, self.backoff_jitter)
        return float(min(self.backoff_max, value))

    def get_backoff_time(self) -> float:
        return self._backoff(jitter=True)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        text = response.headers.get("Retry-After")
        if text is None:
            return None
        # Fractional seconds are beyond RFC 9110, but unambiguous and handy for local servers.
        if re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", text):
            return min(float(text), float(self.retry_after_max))
        try:
            return self.parse_retry_after(text)  # an HTTP date
        except InvalidHeader:
            return None  # unreadable: back off as if there were none

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = 0.0
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response) or 0.0
        if not wait:
            wait = self.get_backoff_time()
        attempt = _attempt.get()
        if attempt is not None:
            wait = min(wait, max(0.0, attempt.deadline - time.monotonic()))
        if wait > 0:
            time.sleep(wait)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost urllib3/socket error inside a requests exception."""
    seen = exc
    for _ in range(8):
        if isinstance(seen, MaxRetryError) and seen.reason is not None:
            seen = seen.reason
        elif isinstance(seen, urllib3.exceptions.ProxyError):
            seen = seen.original_error
        elif isinstance(seen, requests.RequestException | ProtocolError) and any(
            isinstance(arg, BaseException) for arg in seen.args
        ):
            seen = next(arg for arg in reversed(seen.args) if isinstance(arg, BaseException))
        else:
            break
    return seen


def _describe(cause: BaseException) -> str:
    """The reason in an urllib3 error, without the pool or connection object it names."""
    text = str(cause)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]*", text)
    if errno is not None:
        return errno[0].strip()
    reason = text.rsplit(": ", 1)[-1].strip(" '\"")
    while reason.endswith(")") and reason.count(")") > reason.count("("):
        reason = reason[:-1].rstrip(" '\"")  # the closing parts of the wrapping reprs
    return (reason or type(cause).__name__)[:_MESSAGE_LIMIT]


# -- the client ----------------------------------------------------------------------------


class HTTPClient:
    """A JSON-over-HTTP client for one service root. Thread-safe; fork-safe.

    ``auth`` returns the whole ``Authorization`` header value (``"OAuth <token>"``) and is
    called for every request, so a credential can rotate. ``error_hook`` maps a non-2xx
    reply to a service-specific error first. ``max_body_size`` refuses a larger request
    body with ``ValueTooLarge`` before anything is sent.
    """

    def __init__(
        self,
        base_url: str,
        *,
        backend: str,
        auth: Callable[[], str | None] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_body_size: int | None = None,
        error_hook: ErrorHook | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{backend}: the base URL must be http(s)://host/...")
        if (
            parts.scheme == "http"
            and not allow_insecure_http
            and not Server(parts.hostname, parts.port or 80).is_loopback
        ):
            raise ConfigurationError(
                f"{backend}: plain http:// would send the credentials in clear text to "
                f"{parts.hostname}; use https://, or pass allow_insecure_http=True if this "
                "network is trusted"
            )
        if parts.username or parts.password or parts.query:
            raise ConfigurationError(f"{backend}: credentials go in the auth supplier, not the URL")
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if not value > 0:
                raise ConfigurationError(f"option {name} must be a positive number of seconds")
        for name, value in (("backoff_factor", backoff_factor), ("retry_deadline", retry_deadline)):
            if not value >= 0:
                raise ConfigurationError(f"option {name} must be 0 or more seconds")
        if retries < 0:
            raise ConfigurationError("option retries must be 0 or more")
        if pool_size < 1:
            raise ConfigurationError("option pool_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.backend = backend
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        #: ``host:port``, as errors name it.
        self.server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.retries = retries
        self.retry_deadline = float(retry_deadline)
        self.backoff_factor = float(backoff_factor)
        self.pool_size = pool_size
        self.max_body_size = max_body_size
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
        from . import __version__

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
        retry = _Retry(
            total=self.retries,
            other=0,  # TLS and protocol surprises are not transient
            allowed_methods=None,  # every method may be retried on a 503; see _Retry
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_jitter=self.backoff_factor,
            raise_on_status=False,  # the last 503 comes back, with the server's msg
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.pool_size, max_retries=retry)
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
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        return url

    def request(
        self,
        method: str,
        path: str = "",
        *,
        json: Any = _NO_BODY,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        allow: Collection[int] = (),
    ) -> Reply:
        """Send one request (retrying as the module doc says) and return its reply.

        A 2xx reply, or one whose status is in ``allow``, is returned; any other status
        raises. ``idempotent`` defaults by method (GET, HEAD, OPTIONS, PUT, DELETE are);
        pass ``False`` for a conditional write whose answer would be wrong if resent.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path, params)
        session = self.session()
        headers = dict(session.headers)
        body: bytes | None = None
        if json is not _NO_BODY:
            body = _json.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            if self.max_body_size is not None and len(body) > self.max_body_size:
                raise ValueTooLarge(
                    f"the request body would be {len(body)} bytes; the server takes at most "
                    f"{self.max_body_size}",
                    backend=self.backend,
                    server=self.server,
                )
            headers["Content-Type"] = "application/json"
        credential = self._supplier() if self._supplier is not None else None
        if credential:
            headers["Authorization"] = credential

        # Prepared by hand rather than by Session.prepare_request, which re-quotes the URL
        # (decoding %2E, then dropping dot-segments: the path is already exactly encoded),
        # may replace the Authorization header with credentials from ~/.netrc, and merges
        # cookie jars this API never uses; that merging was a fifth of the time per call.
        # Sent through the session's adapter (its pool and its Retry) rather than
        # Session.send, whose hooks, redirect handling and second pass over the reply's
        # cookies were another third of the time per call, none of them used here.
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = url
        prepared.prepare_headers(headers)
        prepared.prepare_body(body, None)
        token = _attempt.set(_Attempt(time.monotonic() + self.retry_deadline, idempotent))
        try:
            response = session.get_adapter(url).send(
                prepared, timeout=(self.connect_timeout, self.timeout), **self._send_settings
            )
        except requests.RequestException as exc:
            # ``from None``: the requests exception holds the prepared request, headers
            # (and so the credential) included.
            raise self._transport_error(exc, method, path, idempotent) from None
        finally:
            _attempt.reset(token)

        reply = self._reply(response)
        if reply.ok:
            return reply
        if self._error_hook is not None:
            error = self._error_hook(reply, method, path)
            if error is not None:
                raise error
        if reply.status in allow:
            return reply
        raise self.status_error(reply, method, path, idempotent=idempotent)

    def _reply(self, response: requests.Response) -> Reply:
        content = response.content
        data: Any = None
        text = ""
        if content:
            try:
                # The standard json module keeps big integers exact (a cas beyond 2**53).
                data = _json.loads(content)
            except ValueError:
                text = self._scrub(content.decode("utf-8", "replace")[: 4 * _MESSAGE_LIMIT])
        if (
            response.status_code >= 300
            and isinstance(data, dict)
            and isinstance(data.get("msg"), str)
        ):
            data["msg"] = self._scrub(data["msg"])
        return Reply(response.status_code, data, text, response.headers)

    def _scrub(self, text: str) -> str:
        """Remove the credential, should a server ever echo it back."""
        value = self._supplier() if self._supplier is not None else None
        secret = value.rpartition(" ")[2] if value else ""
        return text.replace(secret, "***") if len(secret) >= 4 else text

    # -- errors

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {"backend": self.backend, "server": self.server, **extra}

    def _transport_error(
        self, exc: requests.RequestException, method: str, path: str, idempotent: bool
    ) -> CacheError:
        cause = _root_cause(exc)
        where = f"{method} {path or '/'}"
        reason = _describe(cause)
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidHeader):
            return ConfigurationError(f"{where}: {reason}", **self._context())
        never_sent = isinstance(cause, ConnectTimeoutError)  # includes refused and DNS failures
        if not idempotent and not never_sent:
            return UnknownOutcome(
                f"{where} was sent but no reply came back ({reason}); it may have been "
                "applied, so it was not resent",
                **self._context(),
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            what = f"cannot reach {self.server} through the proxy"
        elif isinstance(cause, NewConnectionError):
            what = f"cannot connect to {self.server}"
        elif isinstance(cause, ConnectTimeoutError):
            what = f"no connection to {self.server} within {self.connect_timeout:g} s"
        elif isinstance(cause, ReadTimeoutError) or isinstance(exc, requests.Timeout):
            what = f"no reply from {self.server} within {self.timeout:g} s"
        else:
            what = f"the connection to {self.server} failed"
        return BackendUnavailable(f"{where}: {what} ({reason})", **self._context())

    def status_error(
        self, reply: Reply, method: str, path: str, *, idempotent: bool = True
    ) -> CacheError:
        """The standard error for a non-2xx reply."""
        status = reply.status
        message = reply.message
        where = f"{method} {path or '/'}"
        context = self._context(status=status, server_message=message)
        if status == 401:
            return AuthenticationError(f"{where}: the server refused the credentials", **context)
        if status == 403:
            return PermissionDenied(
                f"{where}: the credentials are not allowed to do this", **context
            )
        if status == 413 or (status == 400 and "too large" in (message or "").lower()):
            return ValueTooLarge(f"{where}: the server refused the size of the request", **context)
        if status in RETRY_STATUSES:
            return BackendUnavailable(
                f"{where}: the service stayed unavailable (retried up to {self.retries} times "
                f"within {self.retry_deadline:g} s)",
                **context,
            )
        if status >= 500:
            if not idempotent:
                # A 500 or a gateway's 502/504 says nothing about whether it was applied.
                return UnknownOutcome(
                    f"{where}: server error; the request may have been applied, so it was "
                    "not resent",
                    **context,
                )
            return BackendUnavailable(f"{where}: server error", **context)
        return CacheError(f"{where}: unexpected status", **context)
