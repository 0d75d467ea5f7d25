"""Stampede-protected reads: :meth:`Backend.get_or_compute` and :meth:`Backend.memoize`.

Built once on the Backend contract (its get, add, gets, cas and set), so every backend
behaves the same. The model, with its knobs (``docs/stampede.md``):

- The value is stored in an envelope holding its logical expiry and how long computing it
  took (``delta``); the item itself lives ``ttl + grace`` seconds. Reads unwrap envelopes
  in :meth:`Backend._decode`, so a plain ``get`` of such a key returns the value.
- Early recompute (XFetch: Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic
  Cache Stampede Prevention", VLDB 2015): a reader recomputes a still-fresh value when
  ``now - delta * beta * log(random()) >= expiry``, so a hot key is refreshed before it
  expires, by one reader, with a probability that rises toward the expiry.
- One computation per key per expiry, across threads and processes: whoever recomputes
  first takes a lease with the server's atomic ``add``; the lease has its own ttl, so a
  crashed holder blocks the others at most ``lock_ttl`` seconds. The others serve the value
  they have (fresh, or stale within ``grace``) at once; a caller with no value polls for
  the holder's result for at most ``wait`` seconds, then computes itself.
- Fail-safe: when the cache is unreachable or ``compute`` raises, the last value within
  ``grace`` is served, with a WARNING and a counter, instead of failing.
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from . import keys
from ._fork import reset_in_child
from .envelope import Envelope, open_envelope, seal, unwrap
from .errors import (
    BackendUnavailable,
    ConfigurationError,
    InvalidTTL,
    SerializationError,
    ValueTooLarge,
)

if TYPE_CHECKING:
    from .backend import Backend
    from .rules import TTL, CacheRules, Plan

log = logging.getLogger("cacheops")

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

#: Start of the key (before the backend's prefix) under which a key's lease is held.
LEASE_MARK = "#lease/"
#: Seconds between two fail-safe WARNING lines for one key (the counter counts every call).
WARN_INTERVAL = 10.0
#: How many last values per backend ``fail_safe`` keeps in process memory.
FAIL_SAFE_ENTRIES = 1024
# Poll for a lease holder's result: often at first (a fast compute), then every 50 ms.
_POLL_FIRST, _POLL_MAX = 0.005, 0.05
# The longest tail a memoized function's keys add to their head: ":" and a digest.
_MEMO_TAIL = ":" + "0" * 32


# -- options and counters ------------------------------------------------------------------


def _seconds(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if (
        type(value) not in (int, float)
        or not math.isfinite(value)  # type: ignore[arg-type]
        or value < 0  # type: ignore[operator]
        or (positive and value == 0)
    ):
        rule = "> 0" if positive else ">= 0"
        raise InvalidTTL(f"{name} must be a finite number of seconds {rule}, not {value!r}")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Options:
    """The knobs of :meth:`Backend.get_or_compute`, checked once (see docs/stampede.md)."""

    grace: float = 0.0
    beta: float = 1.0
    lock_ttl: float = 30.0
    wait: float | None = None
    fail_safe: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once
        set_(self, "grace", _seconds("grace", self.grace, positive=False))
        set_(self, "lock_ttl", _seconds("lock_ttl", self.lock_ttl, positive=True))
        if self.wait is not None:
            set_(self, "wait", _seconds("wait", self.wait, positive=False))
        if type(self.beta) not in (int, float) or not 0 <= self.beta < math.inf:
            raise ConfigurationError(
                f"beta must be a finite number >= 0 (0 turns early recompute off), "
                f"not {self.beta!r}"
            )
        if type(self.fail_safe) is not bool:
            raise ConfigurationError(f"fail_safe must be True or False, not {self.fail_safe!r}")

    @property
    def patience(self) -> float:
        return self.lock_ttl if self.wait is None else self.wait


_COUNTERS = (
    "computations",
    "early_recomputes",
    "stale_served",
    "fail_safe_served",
    "lease_waits",
    "compute_errors",
)


class Stampede:
    """``backend.stampede``: what get_or_compute did in this process, per backend.

    - ``computations``: calls of ``compute``;
    - ``early_recomputes``: of those, refreshes of a still-fresh value (XFetch);
    - ``stale_served``: stale values served while another caller recomputed;
    - ``fail_safe_served``: last values served because the cache was unreachable or
      ``compute`` raised (``fail_safe=True``);
    - ``lease_waits``: callers with no value that waited for another's computation;
    - ``compute_errors``: ``compute`` calls that raised.

    It also keeps, for ``fail_safe`` calls only, the last value of up to
    :data:`FAIL_SAFE_ENTRIES` keys (least recently used dropped first), encoded as stored.
    """

    computations: int
    early_recomputes: int
    stale_served: int
    fail_safe_served: int
    lease_waits: int
    compute_errors: int

    def __init__(self, max_entries: int = FAIL_SAFE_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._last: OrderedDict[str, Envelope] = OrderedDict()
        self._warned: dict[str, float] = {}
        for name in _COUNTERS:
            setattr(self, name, 0)
        reset_in_child(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.as_dict().items())
        return f"<Stampede {counts}>"

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in _COUNTERS}

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def remember(self, key: str, envelope: Envelope) -> None:
        with self._lock:
            self._last[key] = envelope
            self._last.move_to_end(key)
            while len(self._last) > self._max_entries:
                self._last.popitem(last=False)

    def should_warn(self, key: str) -> bool:
        """True at most once per :data:`WARN_INTERVAL` seconds per key: a fail-safe key under
        load would otherwise log on every call."""
        now = time.monotonic()
        with self._lock:
            if now - self._warned.get(key, -math.inf) < WARN_INTERVAL:
                return False
            self._warned[key] = now
            if len(self._warned) > self._max_entries:
                self._warned.clear()
            return True

    def recall(self, key: str) -> Envelope | None:
        with self._lock:
            return self._last.get(key)

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by another thread


@dataclass(frozen=True)
class Uncached(Generic[T]):
    """Return ``Uncached(value)`` from ``compute`` to give ``value`` to this caller without
    storing it (an error page a view must not cache, say)."""

    value: T


# -- get_or_compute ------------------------------------------------------------------------


def lease_key(backend: Backend, key: str) -> str:
    """The key (before the backend's prefix) of the lease that guards ``key``."""
    return _lease_name(backend.make_key(key))


def _lease_name(final: str) -> str:
    return LEASE_MARK + keys.digest(final, 40)


@dataclass
class _Found(Generic[T]):
    value: T
    envelope: Envelope

    @property
    def expiry(self) -> float:
        return self.envelope.expiry


def get_or_compute(
    backend: Backend,
    key: str,
    compute: Callable[[], T | Uncached[T]],
    ttl: TTL,
    options: Options,
) -> T:
    """See :meth:`Backend.get_or_compute`."""
    return backend._run(plan(backend, key, compute, ttl, options))  # type: ignore[no-any-return]


def plan(
    backend: CacheRules,
    key: str,
    compute: Callable[[], Any],
    ttl: TTL,
    options: Options,
) -> Plan[Any]:
    """The plan of ``get_or_compute``, for the sync or the async driver."""
    if not callable(compute):
        raise TypeError(f"compute must be a callable taking no arguments, not {compute!r}")
    final = backend.make_key(key)
    fresh_for = backend._ttl(ttl)
    if fresh_for == 0.0:
        # ttl <= 0 expires at once: nothing could be served from the cache.
        return _Call(backend, key, final, compute, 0.0, 0.0, options).computed()
    lives = None if fresh_for is None else backend._ttl(fresh_for + options.grace)
    return _Call(backend, key, final, compute, fresh_for, lives, options).run()


class _Call(Generic[T]):
    """One get_or_compute call: its state is the lease it may hold. Its methods are plans
    (see :mod:`cacheops.rules`): they yield the backend hooks they need, and ``_sleep`` and
    ``_compute``, which the sync and async drivers each do their own way."""

    def __init__(
        self,
        backend: CacheRules,
        key: str,
        final: str,
        compute: Callable[[], Any],
        fresh_for: float | None,
        lives: float | None,
        options: Options,
    ) -> None:
        self.backend = backend
        self.key = key
        self.final = final
        self.compute = compute
        self.fresh_for = fresh_for
        self.lives = lives
        self.options = options
        self.stats = backend.stampede
        self.token: str | None = None

    def run(self) -> Plan[T]:
        try:
            found = yield from self.read()
        except BackendUnavailable as exc:
            return (yield from self.unavailable(exc, None))
        if found is not None:
            now = time.time()
            if now < found.expiry:
                if self.early(found, now):
                    return (yield from self.refresh(found, fresh=True))
                return found.value
            if now < found.expiry + self.options.grace:
                return (yield from self.refresh(found, fresh=False))
        return (yield from self.fill())

    # -- reading -------------------------------------------------------------------------

    def read(self) -> Plan[_Found[T] | None]:
        item = yield "get_item", (self.final,)
        if item is None:
            return None
        try:
            envelope = open_envelope(item)
            found = _Found(self.backend._decode(self.key, envelope.item), envelope)
        except SerializationError as exc:
            # Another client's or serializer's write: recomputed and overwritten, so one
            # bad entry does not fail every call.
            log.warning("treating an unreadable cached value as a miss: %s", exc)
            return None
        if self.options.fail_safe:
            self.stats.remember(self.final, envelope)
        return found

    def usable(self, found: _Found[T] | None) -> _Found[T] | None:
        """``found`` if it is fresh or stale within grace."""
        if found is not None and time.time() < found.expiry + self.options.grace:
            return found
        return None

    def last_value(self, found: _Found[T] | None) -> _Found[T] | None:
        """The value to serve instead of failing: ``found``, else the process's memory."""
        usable = self.usable(found)
        if usable is None:
            envelope = self.stats.recall(self.final)
            if envelope is not None:
                usable = self.usable(
                    _Found(self.backend._decode(self.key, envelope.item), envelope)
                )
        return usable

    def early(self, found: _Found[T], now: float) -> bool:
        delta, beta = found.envelope.delta, self.options.beta
        if beta == 0 or delta <= 0 or math.isinf(found.expiry):
            return False
        lead = delta * beta
        if found.expiry - now > lead:
            # XFetch's lead grows with the read rate (about lead * ln(reads per lead)): on
            # a hot key it would reach the whole ttl and refresh it many times per ttl. Capped
            # at one lead, a hot key is refreshed once per ttl, landing as the old expires.
            return False
        # 1 - random() is in (0, 1]: log never sees 0.
        return now - lead * math.log(1.0 - random.random()) >= found.expiry

    # -- the three paths -----------------------------------------------------------------

    def refresh(self, found: _Found[T], *, fresh: bool) -> Plan[T]:
        """A value to serve exists: recompute it if the lease is free, else serve it."""
        try:
            leased = yield from self.take_lease()
        except BackendUnavailable as exc:
            return found.value if fresh else (yield from self.unavailable(exc, found))
        if not leased:
            if not fresh:
                self.stats.count("stale_served")
            return found.value
        return (yield from self.recompute(found, fresh=fresh))

    def fill(self) -> Plan[T]:
        """Nothing to serve: compute under the lease, or wait for its holder's result."""
        deadline = time.monotonic() + self.options.patience
        delay = _POLL_FIRST
        waited = False
        while True:
            try:
                if (yield from self.take_lease()):
                    return (yield from self.recompute(None, fresh=False))
                found = yield from self.read()
            except BackendUnavailable as exc:
                return (yield from self.unavailable(exc, None))
            if found is not None and time.time() < found.expiry:
                return found.value
            if not waited:
                self.stats.count("lease_waits")
                waited = True
            left = deadline - time.monotonic()
            if left <= 0:
                break
            yield "_sleep", (min(delay, left),)
            delay = min(delay * 2, _POLL_MAX)
        log.warning(
            "waited %.1f s for another caller to compute %r; computing it here",
            self.options.patience,
            self.key,
        )
        return (yield from self.recompute(None, fresh=False))

    def unavailable(self, exc: BackendUnavailable, found: _Found[T] | None) -> Plan[T]:
        """The cache cannot be reached: the last value under fail_safe, else the backend's
        on_error policy (raise, or compute without caching)."""
        if self.options.fail_safe:
            last = self.last_value(found)
            if last is not None:
                self.stats.count("fail_safe_served")
                if self.stats.should_warn(self.final):
                    log.warning(
                        "cache unavailable, serving the last value of %r: %s", self.key, exc
                    )
                return last.value
        self.backend._outage(exc, None)
        return (yield from self.computed())

    # -- computing -----------------------------------------------------------------------

    def computed(self) -> Plan[T]:
        """``compute()`` with nothing stored (the cache is not used)."""
        self.stats.count("computations")
        result = yield "_compute", (self.compute,)
        return result.value if isinstance(result, Uncached) else result  # type: ignore[no-any-return]

    def recompute(self, seen: _Found[T] | None, *, fresh: bool) -> Plan[T]:
        """Compute and store, then release the lease if held. ``seen`` is the value read
        before (None: none), served if ``compute`` fails and it is still fresh or, under
        fail_safe, within grace."""
        try:
            value = yield from self.compute_and_store(seen, fresh=fresh)
        except GeneratorExit:
            raise  # abandoned mid-call: the lease expires by its own ttl
        except BaseException:
            yield from self.release()
            raise
        yield from self.release()
        return value

    def compute_and_store(self, seen: _Found[T] | None, *, fresh: bool) -> Plan[T]:
        if self.token is not None:
            newer = yield from self.newer_than(seen)
            if newer is not None:  # stored by a caller whose lease we followed
                return newer.value
        if fresh:
            self.stats.count("early_recomputes")
        self.stats.count("computations")
        started = time.monotonic()
        try:
            result = yield "_compute", (self.compute,)
        except Exception as exc:
            self.stats.count("compute_errors")
            return self.compute_failed(exc, seen, fresh=fresh)
        if isinstance(result, Uncached):
            return result.value  # type: ignore[no-any-return]
        yield from self.store(result, time.monotonic() - started)
        return result  # type: ignore[no-any-return]

    def newer_than(self, seen: _Found[T] | None) -> Plan[_Found[T] | None]:
        try:
            current = yield from self.read()
        except BackendUnavailable:
            return None
        if current is None or time.time() >= current.expiry:
            return None
        return current if seen is None or current.expiry > seen.expiry else None

    def compute_failed(self, exc: Exception, seen: _Found[T] | None, *, fresh: bool) -> T:
        if fresh and seen is not None:
            # An early refresh failed while the value is still fresh: nothing is lost.
            log.warning(
                "early recompute of %r failed; serving the fresh value", self.key, exc_info=exc
            )
            return seen.value
        if self.options.fail_safe:
            last = self.last_value(seen)
            if last is not None:
                self.stats.count("fail_safe_served")
                log.warning(
                    "computing %r failed; serving its last value (fail_safe)",
                    self.key,
                    exc_info=exc,
                )
                return last.value
        raise exc

    def store(self, value: T, delta: float) -> Plan[None]:
        backend = self.backend
        expiry = math.inf if self.fresh_for is None else time.time() + self.fresh_for
        inner = backend._encode(value)
        try:
            item = backend._sized(seal(inner, expiry, delta))
        except ValueTooLarge as exc:
            log.warning("not caching the value computed for %r: %s", self.key, exc)
            return
        if self.options.fail_safe:
            self.stats.remember(self.final, Envelope(inner, expiry, delta))
        try:
            yield "set_item", (self.final, item, self.lives)
        except BackendUnavailable as exc:
            if not self.options.fail_safe:
                backend._outage(exc, None)
            log.warning("could not cache the value computed for %r: %s", self.key, exc)

    # -- the lease -----------------------------------------------------------------------

    @functools.cached_property
    def lease(self) -> str:
        return self.backend.make_key(_lease_name(self.final))

    def take_lease(self) -> Plan[bool]:
        token = secrets.token_hex(8)
        item = self.backend._encode(token)
        if (yield "add_item", (self.lease, item, self.options.lock_ttl)):
            self.token = token
            return True
        return False

    def release(self) -> Plan[None]:
        """Remove the lease if it is still ours: a cas that expires it at once, so a lease
        that timed out and was taken by another caller is never removed."""
        token, self.token = self.token, None
        if token is None:
            return
        try:
            found = yield "gets_item", (self.lease,)
            if found is not None and self.backend._decode(self.lease, found[0]) == token:
                yield "cas_item", (self.lease, found[0], found[1], 0.0)
        except BackendUnavailable as exc:
            log.debug("lease of %r left to expire: %s", self.key, exc)


# -- memoize -------------------------------------------------------------------------------


def memo_keys(
    backend: CacheRules,
    function: Callable[..., Any],
    *,
    key: Callable[..., str] | None = None,
    name: str | None = None,
    ignore: Collection[str] = (),
    coroutines: bool = False,
) -> Callable[[tuple[Any, ...], dict[str, Any]], str | None]:
    """What makes a memoized call's key from its arguments: None when they do not bind
    to ``function``'s signature (calling it then raises Python's own TypeError)."""
    signature = keys.memo_signature(function, ignore, coroutines=coroutines)
    label = name or f"{function.__module__}.{function.__qualname__}"
    head = keys.name_head(backend, "memo", label, _MEMO_TAIL)
    left_out = frozenset(ignore)

    def make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        if key is not None:
            return key(*args, **kwargs)
        digest = keys.call_digest_if_bound(signature, args, kwargs, left_out)
        return None if digest is None else f"{head}:{digest}"

    return make


def memoize(
    backend: Backend,
    ttl: TTL,
    options: Options,
    *,
    key: Callable[..., str] | None = None,
    name: str | None = None,
    ignore: Collection[str] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """See :meth:`Backend.memoize`."""

    def decorator(function: Callable[P, R]) -> Callable[P, R]:
        make = memo_keys(backend, function, key=key, name=name, ignore=ignore)

        @functools.wraps(function)
        def memoized(*args: P.args, **kwargs: P.kwargs) -> R:
            made = make(args, kwargs)
            if made is None:
                return function(*args, **kwargs)  # raises Python's own TypeError
            compute = functools.partial(function, *args, **kwargs)
            return get_or_compute(backend, made, compute, ttl, options)

        return memoized

    return decorator


__all__ = [
    "FAIL_SAFE_ENTRIES",
    "LEASE_MARK",
    "WARN_INTERVAL",
    "Envelope",
    "Options",
    "Stampede",
    "Uncached",
    "get_or_compute",
    "lease_key",
    "memo_keys",
    "memoize",
    "open_envelope",
    "plan",
    "seal",
    "unwrap",
]
