"""The circuit breaker of one HTTP client's service, shared by its threads (or tasks).

While the service is unreachable (see :attr:`~cacheops.http.policy.Outcome.outage`), every
request would wait out its retries before failing. Once one request ended so, the breaker
is *open*: requests fail fast with :class:`~cacheops.errors.BackendUnavailable`, nothing
sent. ``window`` seconds after the failure one request goes through as a probe
(*half-open*; the others still fail fast): its success closes the breaker, its failure
keeps it open another window. ``window=0`` never fails fast. As the memcached backend's
breakers (:class:`cacheops.backends.memcache_cluster.Breakers`), for one server.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from time import monotonic

__all__ = ["Breaker", "BreakerOpen"]


class BreakerOpen(Exception):
    """Raised by :meth:`Breaker.admit`: the request must fail fast; the message says why."""


@dataclass
class _Open:
    since: float  # when it last failed, or when the last probe was let through
    probe: object | None = None  # the token of the request probing it now


class Breaker:
    """One service's breaker. ``stale_after``: seconds after which a probe that never
    reported (cancelled, interrupted) no longer holds the half-open slot: the longest a
    request can take."""

    def __init__(self, server: str, window: float, stale_after: float) -> None:
        self.server = server
        self.window = window
        self._stale_after = max(window, stale_after)
        self._lock = threading.Lock()
        #: None while closed: read without the lock on the hot path, changed under it.
        self._open: _Open | None = None
        _LIVE.add(self)

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def admit(self) -> object | None:
        """Let a request through: its token if it is the probe. Raises
        :class:`BreakerOpen`."""
        if self._open is None:  # the hot path
            return None
        with self._lock:
            state = self._open
            if state is None:
                return None
            ago = monotonic() - state.since
            due = self._stale_after if state.probe is not None else self.window
            if ago >= due:
                state.since, state.probe = monotonic(), object()
                return state.probe
        raise BreakerOpen(
            f"{self.server} was unreachable {ago:.1f} s ago: its circuit breaker is open, so "
            f"requests fail fast; one request probes it every breaker_window "
            f"({self.window:g} s) until it answers"
        )

    def settle(self, token: object | None, *, answered: bool, outage: bool) -> None:
        """Record how an admitted request ended: ``answered`` (the service replied, with
        whatever status) closes the breaker; ``outage`` opens it (or keeps it open); else
        a probe's slot is freed for the next request."""
        if not self.window:
            return
        if answered:
            if self._open is not None:
                with self._lock:
                    self._open = None
            return
        with self._lock:
            state = self._open
            if outage:
                if state is None:
                    self._open = _Open(monotonic())
                elif token is not None and state.probe is token:
                    state.since, state.probe = monotonic(), None
                # else: a request begun before the breaker opened; its failure is counted
            elif state is not None and token is not None and state.probe is token:
                state.probe = None
                state.since = monotonic() - self.window  # the next request probes

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._open = None


# A forked child starts with every breaker closed (and a lock no parent thread holds).
_LIVE: weakref.WeakSet[Breaker] = weakref.WeakSet()


def _reset_in_child() -> None:
    for breaker in list(_LIVE):
        breaker._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
