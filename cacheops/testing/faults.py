"""Fault injection for the local HTTP API servers: what :class:`Faults` queues up and how a
``Retry-After`` value is written.

:class:`~cacheops.testing.http_server.LocalAPIServer` holds one :class:`Faults` as
``server.faults``; its request handler takes the faults for each request it reads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import format_datetime

__all__ = ["Faults", "format_retry_after"]


class Faults:
    """Thread-safe fault injection; reached as ``server.faults``.

    Precedence for one request: ``latency`` (always added) → ``drop_before`` →
    ``fail_next`` → the request is applied → ``drop_after_apply`` → ``cut_reply``.  A
    request hit by one fault does not use up a later one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency = 0.0
        self._fail: deque[tuple[int, str | None]] = deque()
        self._drop_before = 0
        self._drop_after: list[tuple[frozenset[str], list[int]]] = []
        self._cut: list[tuple[frozenset[str] | None, str, float, list[int]]] = []

    # -- configuration

    @property
    def latency(self) -> float:
        """Seconds of delay added to every request (0 for none)."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = float(seconds)

    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: int | datetime | None = None
    ) -> None:
        """Answer the next ``n`` requests with ``status`` and the server's error body.

        Nothing is applied.  With ``retry_after`` a ``Retry-After`` header is sent, in one
        of RFC 9110's two forms: whole seconds (an ``int``) or an HTTP-date (an aware
        ``datetime``).  Calls queue up in order.
        """
        _check_count(n)
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        header = None if retry_after is None else format_retry_after(retry_after)
        with self._lock:
            self._fail.extend([(status, header)] * n)

    def drop_before(self, n: int = 1) -> None:
        """Close the connection of the next ``n`` requests without applying or answering."""
        _check_count(n)
        with self._lock:
            self._drop_before += n

    def drop_after_apply(
        self, n: int = 1, methods: Iterable[str] = ("POST", "PUT", "DELETE")
    ) -> None:
        """Apply the next ``n`` requests whose method is in ``methods``, then close the
        connection without any response (a write applied, then the answer lost)."""
        _check_count(n)
        wanted = frozenset(m.upper() for m in methods)
        if not wanted:
            raise ValueError("methods must not be empty")
        with self._lock:
            self._drop_after.append((wanted, [n]))

    def cut_reply(
        self,
        n: int = 1,
        *,
        at: str = "body",
        stall: float = 0.0,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Apply the next ``n`` requests whose method is in ``methods`` (default: any),
        then send only part of the answer, wait ``stall`` seconds and close the connection.

        ``at="body"``: every header (the ``Content-Length`` of the whole body) and the first
        half of the body; an answer without a body is cut as with ``"headers"``.
        ``at="headers"``: the status line and the first headers, without the blank line
        that ends them.  With a ``stall`` longer than the client's read timeout, the reply
        stalls rather than breaks.
        """
        _check_count(n)
        if at not in ("body", "headers"):
            raise ValueError('at must be "body" or "headers"')
        if stall < 0:
            raise ValueError("stall must be >= 0")
        wanted = None if methods is None else frozenset(m.upper() for m in methods)
        if wanted is not None and not wanted:
            raise ValueError("methods must not be empty")
        with self._lock:
            self._cut.append((wanted, at, float(stall), [n]))

    def clear(self) -> None:
        """Remove every pending fault and set latency back to 0."""
        with self._lock:
            self._latency = 0.0
            self._fail.clear()
            self._drop_before = 0
            self._drop_after.clear()
            self._cut.clear()

    @property
    def pending(self) -> dict[str, int]:
        """How many requests each kind of fault still waits for."""
        with self._lock:
            return {
                "fail_next": len(self._fail),
                "drop_before": self._drop_before,
                "drop_after_apply": sum(left[0] for _, left in self._drop_after),
                "cut_reply": sum(left[0] for *_, left in self._cut),
            }

    def __repr__(self) -> str:
        return f"Faults(latency={self.latency!r}, pending={self.pending!r})"

    # -- consumption by the server

    def _take_before(self) -> tuple[str, int, str | None] | None:
        with self._lock:
            if self._drop_before > 0:
                self._drop_before -= 1
                return ("drop_before", 0, None)
            if self._fail:
                status, retry_after = self._fail.popleft()
                return ("fail_next", status, retry_after)
            return None

    def _take_drop_after(self, method: str) -> bool:
        with self._lock:
            for index, (methods, left) in enumerate(self._drop_after):
                if method in methods:
                    left[0] -= 1
                    if left[0] <= 0:
                        del self._drop_after[index]
                    return True
            return False

    def _take_cut(self, method: str) -> tuple[str, float] | None:
        with self._lock:
            for index, (methods, at, stall, left) in enumerate(self._cut):
                if methods is None or method in methods:
                    left[0] -= 1
                    if left[0] <= 0:
                        del self._cut[index]
                    return at, stall
            return None


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be an integer >= 0")


def format_retry_after(value: int | datetime) -> str:
    """A ``Retry-After`` value (RFC 9110 §10.2.3): ``delay-seconds`` for a non-negative
    ``int``, an HTTP-date (IMF-fixdate) for an aware ``datetime``.  Fractions of a second
    have no form there, so a ``float`` is refused rather than rounded."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after as a datetime must be timezone-aware")
        return format_datetime(value.astimezone(timezone.utc), usegmt=True)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"retry_after must be whole seconds (an int >= 0) or a datetime, not {value!r}: "
            "RFC 9110 has no fractions of a second"
        )
    return str(value)
