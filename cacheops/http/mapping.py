"""What a failed request becomes: the one table of transport failures (the reading of the
reply's body included) and the mapping of error statuses, to :mod:`cacheops.errors`.

The table holds the failures of both transports: ``requests``/urllib3 (the sync client)
and the kinds below that :mod:`cacheops.http.apool` (the async client's h11 pool) raises,
each kind on the same outcome: never sent, or sent and so maybe applied.

Every transport failure is described by one row of :data:`FAILURES`: which error, in what
words, whether the request may have reached the server, and whether another attempt may
help; the last two are what :mod:`cacheops.http.policy` decides on. The errors built here
keep no reference to the exception they describe: it holds the prepared request, whose
headers carry the credential.
"""

from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ..errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    PermissionDenied,
    UnknownOutcome,
    ValueTooLarge,
)
from .options import HTTPOptions
from .policy import RETRY_STATUSES, Outcome
from .reply import MESSAGE_LIMIT, Reply

__all__ = [
    "FAILURES",
    "AsyncTransportError",
    "ConnectFailed",
    "ConnectTimedOut",
    "ConnectionLost",
    "Failure",
    "InvalidRequest",
    "PoolTimedOut",
    "ReplyTimedOut",
    "Unframed",
    "status_error",
    "transport_error",
]


class Unframed(ProtocolError):
    """A reply whose headers give no length: its end is wherever the connection closed,
    so a reply cut inside its header block (or its body) would read as complete."""


class AsyncTransportError(Exception):
    """A failure of the async transport (:mod:`cacheops.http.apool`). Never holds the
    request or its headers; the socket or h11 error, if any, is its ``__cause__``."""


class InvalidRequest(AsyncTransportError):
    """A header h11 refuses (its own words are dropped: they may quote the credential)."""


class ConnectFailed(AsyncTransportError):
    """No connection (refused, unreachable, no such host, TLS handshake failed)."""


class ConnectTimedOut(AsyncTransportError):
    """No connection within ``connect_timeout``."""


class PoolTimedOut(AsyncTransportError):
    """No free connection within ``timeout``: the request was never sent."""


class ReplyTimedOut(AsyncTransportError):
    """The request was sent, and no whole reply came within ``timeout``."""


class ConnectionLost(AsyncTransportError):
    """The connection closed or broke after the request was (maybe) sent."""


@dataclass(frozen=True)
class Failure:
    """How one kind of transport failure is reported."""

    error: type[CacheError]
    what: str  # with {server}, {timeout} and {connect_timeout} filled in
    sent: bool  # the request may have reached the server, so it may have been applied
    transient: bool  # another attempt may succeed
    # The service looks unreachable (not a broken reused connection, a restarted server's
    # or a full pool's): a request that ends so opens the client's circuit breaker.
    outage: bool = False

    @property
    def outcome(self) -> Outcome:
        return Outcome(retryable=self.transient, applied=self.sent, outage=self.outage)


# Every transport failure, body included, by the exceptions it is made of (the requests
# exception and every urllib3 / socket error inside it); the first match wins.
FAILURES: tuple[tuple[type[BaseException], Failure], ...] = (
    (
        requests.exceptions.InvalidURL,
        Failure(ConfigurationError, "the URL is not valid", False, False),
    ),
    (
        requests.exceptions.InvalidHeader,
        Failure(ConfigurationError, "a header is not valid", False, False),
    ),
    (
        requests.exceptions.ProxyError,
        Failure(BackendUnavailable, "cannot reach {server} through the proxy", False, True, True),
    ),
    (
        NewConnectionError,
        Failure(BackendUnavailable, "cannot connect to {server}", False, True, True),
    ),
    (
        ConnectTimeoutError,
        Failure(
            BackendUnavailable,
            "no connection to {server} within {connect_timeout:g} s",
            False,
            True,
            True,
        ),
    ),
    (
        ReadTimeoutError,
        Failure(
            BackendUnavailable, "no reply from {server} within {timeout:g} s", True, True, True
        ),
    ),
    (
        http.client.IncompleteRead,
        Failure(BackendUnavailable, "the reply from {server} was cut off", True, True),
    ),
    (
        Unframed,
        Failure(
            BackendUnavailable,
            "the reply from {server} gave no length (its headers may have been cut off)",
            True,
            True,
        ),
    ),
    (
        http.client.RemoteDisconnected,
        Failure(BackendUnavailable, "{server} closed the connection without a reply", True, True),
    ),
    (
        DecodeError,
        Failure(BackendUnavailable, "the reply from {server} could not be decoded", True, True),
    ),
    (SSLError, Failure(BackendUnavailable, "TLS with {server} failed", True, False)),
)


# The async transport's kinds (cacheops.http.apool).
FAILURES += (
    (InvalidRequest, Failure(ConfigurationError, "a header is not valid", False, False)),
    # Before ConnectFailed, which is what a failed TLS handshake comes as.
    (
        ssl.SSLCertVerificationError,
        Failure(BackendUnavailable, "TLS with {server} failed: no valid certificate", False, False),
    ),
    (ConnectFailed, Failure(BackendUnavailable, "cannot connect to {server}", False, True, True)),
    (
        ConnectTimedOut,
        Failure(
            BackendUnavailable,
            "no connection to {server} within {connect_timeout:g} s",
            False,
            True,
            True,
        ),
    ),
    (
        PoolTimedOut,
        Failure(
            BackendUnavailable,
            "no free connection to {server} within {timeout:g} s (raise pool_size)",
            False,
            True,
        ),
    ),
    (
        ReplyTimedOut,
        Failure(
            BackendUnavailable, "no reply from {server} within {timeout:g} s", True, True, True
        ),
    ),
    (
        ConnectionLost,
        Failure(
            BackendUnavailable,
            "{server} closed the connection before the whole reply came",
            True,
            True,
        ),
    ),
)
OTHER_FAILURE = Failure(BackendUnavailable, "the connection to {server} failed", True, True)


def _chain(exc: BaseException) -> list[BaseException]:
    """A requests (or async transport) exception and the urllib3 (socket, h11) errors
    inside it, outermost first."""
    chain = [exc]
    for _ in range(8):
        seen = chain[-1]
        if seen.__cause__ is not None and isinstance(seen, AsyncTransportError):
            # The async transport wraps what it caught with ``raise ... from``.
            chain.append(seen.__cause__)
        elif isinstance(seen, MaxRetryError) and seen.reason is not None:
            chain.append(seen.reason)
        elif isinstance(seen, urllib3.exceptions.ProxyError):
            chain.append(seen.original_error)
        elif isinstance(seen, requests.RequestException | ProtocolError) and any(
            isinstance(arg, BaseException) for arg in seen.args
        ):
            chain.append(next(a for a in reversed(seen.args) if isinstance(a, BaseException)))
        else:
            break
    return chain


def _failure(chain: list[BaseException]) -> Failure:
    for kind, failure in FAILURES:
        if any(isinstance(seen, kind) for seen in chain):
            return failure
    return OTHER_FAILURE


def _describe(cause: BaseException) -> str:
    """The reason in an urllib3 error, without the pool or connection object it names."""
    text = str(cause)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]*", text)
    if errno is not None:
        return errno[0].strip()
    reason = text.rsplit(": ", 1)[-1].strip(" '\"")
    while reason.endswith(")") and reason.count(")") > reason.count("("):
        reason = reason[:-1].rstrip(" '\"")  # the closing parts of the wrapping reprs
    return (reason or type(cause).__name__)[:MESSAGE_LIMIT]


def transport_error(
    exc: BaseException,
    method: str,
    path: str,
    *,
    idempotent: bool,
    backend: str,
    server: str,
    options: HTTPOptions,
) -> tuple[CacheError, Failure]:
    """The error for a transport failure, by :data:`FAILURES`, and the row it matched.
    The error keeps no reference to ``exc``."""
    chain = _chain(exc)
    failure = _failure(chain)
    what = failure.what.format(
        server=server, timeout=options.timeout, connect_timeout=options.connect_timeout
    )
    message = f"{method} {path or '/'}: {what} ({_describe(chain[-1])})"
    if failure.sent and not idempotent and failure.error is BackendUnavailable:
        error: CacheError = UnknownOutcome(
            f"{message}; it was sent and may have been applied, so it was not resent",
            backend=backend,
            server=server,
        )
    else:
        error = failure.error(message, backend=backend, server=server)
    return error, failure


def status_error(
    reply: Reply,
    method: str,
    path: str,
    *,
    idempotent: bool,
    backend: str,
    server: str,
    options: HTTPOptions,
) -> CacheError:
    """The standard error for a non-2xx reply."""
    status = reply.status
    message = reply.message
    where = f"{method} {path or '/'}"
    context: dict[str, Any] = {
        "backend": backend,
        "server": server,
        "status": status,
        "server_message": message,
    }
    if status == 401:
        return AuthenticationError(f"{where}: the server refused the credentials", **context)
    if status == 403:
        return PermissionDenied(f"{where}: the credentials are not allowed to do this", **context)
    if status == 413 or (status == 400 and "too large" in (message or "").lower()):
        return ValueTooLarge(f"{where}: the server refused the size of the request", **context)
    if status in RETRY_STATUSES:
        return BackendUnavailable(
            f"{where}: the service stayed unavailable (retried up to {options.retries} times "
            f"within {options.retry_deadline:g} s)",
            **context,
        )
    if status >= 500:
        if not idempotent:
            # A 500 or a gateway's 502/504 says nothing about whether it was applied.
            return UnknownOutcome(
                f"{where}: server error; the request may have been applied, so it was not resent",
                **context,
            )
        return BackendUnavailable(f"{where}: server error", **context)
    return CacheError(f"{where}: unexpected status", **context)
