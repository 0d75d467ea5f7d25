"""What the sync and async HTTP clients share around their sending: the service root and
its options, the request's method, body and headers, the retry loop's bookkeeping, and what
a reply or a failure becomes. Each transport only sends an attempt and waits."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import BackendUnavailable, CacheError
from .breaker import Breaker, BreakerOpen
from .mapping import status_error, transport_error
from .message import NO_BODY, Root, encode_body, make_reply, request_headers
from .options import HTTPOptions
from .policy import IDEMPOTENT_METHODS, Outcome, next_wait, status_outcome
from .reply import ErrorHook, Reply

__all__ = ["ClientBase", "Request", "Retrying"]


@dataclass
class Retrying:
    """One request's retry loop: attempts made and the deadline, asked of the policy; its
    last outcome is reported to the client's breaker (``token``: it is the probe)."""

    options: HTTPOptions
    idempotent: bool
    breaker: Breaker | None = None
    token: object | None = None
    deadline: float = 0.0
    attempts: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.options.retry_deadline

    def wait(self, outcome: Outcome | None) -> float | None:
        """Seconds to wait before the next attempt, or None to stop (``outcome`` None: the
        attempt's answer is final)."""
        self.attempts += 1
        wait = None if outcome is None else self._next_wait(outcome)
        if wait is None and self.breaker is not None:
            self.breaker.settle(
                self.token,
                answered=outcome is None,
                outage=outcome is not None and outcome.outage,
            )
        return wait

    def _next_wait(self, outcome: Outcome) -> float | None:
        return next_wait(
            self.options,
            outcome,
            attempts=self.attempts,
            idempotent=self.idempotent,
            time_left=self.deadline - time.monotonic(),
            now=datetime.now(timezone.utc),
            jitter=random.random(),
        )


@dataclass(frozen=True)
class Request:
    """A request as both transports send it."""

    method: str
    path: str
    url: str
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = True


class ClientBase:
    """A JSON-over-HTTP client for one service root: the parts that do not send.

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
        # The last attempt may start just before the deadline, then wait out both timeouts.
        longest = options.retry_deadline + options.connect_timeout + options.timeout
        self.breaker = Breaker(self.server, options.breaker_window, longest)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    @property
    def user_agent(self) -> str:
        raise NotImplementedError

    def url(self, path: str = "", params: Any = None) -> str:
        """The absolute URL of ``path`` (already encoded, see :func:`quote_segment`)."""
        return self.root.url(path, params)

    def build(
        self,
        method: str,
        path: str,
        *,
        json: Any = NO_BODY,
        params: Any = None,
        idempotent: bool | None = None,
    ) -> Request:
        """The request to send: ``idempotent`` defaults by method (GET, HEAD, OPTIONS, PUT,
        DELETE are); a body over ``max_body_size`` is refused before anything is sent."""
        method = method.upper()
        body = (
            None if json is NO_BODY else encode_body(json, self.options, self.backend, self.server)
        )
        return Request(
            method,
            path,
            self.url(path, params),
            body,
            request_headers(self.user_agent, self._supplier, body is not None),
            method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        )

    def retrying(self, request: Request) -> Retrying:
        """The request's retry loop; raises :class:`~cacheops.errors.BackendUnavailable`,
        before anything is sent, while the breaker is open."""
        try:
            token = self.breaker.admit()
        except BreakerOpen as exc:
            why = str(exc)
        else:
            return Retrying(self.options, request.idempotent, self.breaker, token)
        # Raised out here, so that nothing is behind it (no __context__).
        raise BackendUnavailable(
            f"{request.method} {request.path or '/'}: {why}",
            backend=self.backend,
            server=self.server,
        )

    def answered(self, request: Request, status: int, headers: Any) -> Outcome | None:
        """What an answer means for the retry loop (None: final)."""
        return status_outcome(status, headers.get("Retry-After"))

    def failed(self, request: Request, exc: BaseException) -> tuple[CacheError, Outcome | None]:
        """What a transport failure becomes, and what it means for the retry loop. Called in
        the ``except`` block; the caller raises the error outside it, so no transport
        exception (holding the request and its credential) is its ``__context__``."""
        error, failure = transport_error(
            exc,
            request.method,
            request.path,
            idempotent=request.idempotent,
            backend=self.backend,
            server=self.server,
            options=self.options,
        )
        return error, failure.outcome

    def finish(
        self, request: Request, status: int, headers: Any, content: bytes, allow: Collection[int]
    ) -> Reply:
        """The reply of a 2xx answer (or one in ``allow``); else the error it means."""
        reply = make_reply(status, headers, content, self._supplier)
        if reply.ok:
            return reply
        if self._error_hook is not None:
            error = self._error_hook(reply, request.method, request.path)
            if error is not None:
                raise error
        if reply.status in allow:
            return reply
        raise self.status_error(reply, request.method, request.path, idempotent=request.idempotent)

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
