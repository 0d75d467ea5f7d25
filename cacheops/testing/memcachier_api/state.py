"""The state of the local MemCachier cache: credentials, flags, alerts, delivery configs,
watched prefixes, samples and key events, and the memcached it acts on.

Handlers take a :class:`CacheState`; ``lock`` (the server's lock, which also guards its
request log) guards every mutable attribute.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cacheops.testing.memcached import MemcachedError, MemcachedServer
from cacheops.testing.memcached_wire import MAX_USERS

from .documented import V1_FORBIDDEN, V2_NOT_ALLOWED_TO_MANAGE
from .memcached_link import AdminConnection
from .observer import Observer
from .records import Cred, Event, PrefixCounts, PrefixSample, Sample, new_username
from .series import sum_stats
from .wire import Invalid

logger = logging.getLogger(__name__)

MAX_SAMPLES = 10_000
MAX_EVENTS = 100_000
RECENT_LOG_LINES = 100
METADUMP_MAX_ITEMS = 100_000
CLUSTERS = ("local-1", "local-2")


class CacheState:
    """One cache: ``initial`` are the ``(username, secret)`` of the credentials after start
    and after every reset, the first one primary."""

    def __init__(
        self,
        lock: threading.Lock,
        memcached: MemcachedServer,
        initial: list[tuple[str, str]],
        *,
        clock: Callable[[], float],
        cache_id: int,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        self.lock = lock
        self.memcached = memcached
        self.clock = clock
        self.cache_id = cache_id
        self._initial = initial
        self._auth_lock = threading.Lock()  # serialises authfile reloads
        self._sample_lock = threading.Lock()
        self.samples: deque[Sample] = deque(maxlen=max_samples)
        self.events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self.recent: deque[Event] = deque(maxlen=RECENT_LOG_LINES)
        self.observed_since = 0.0
        self.floor = 0.0  # events memcached logged (its ts) up to this time are dropped
        self.restore()
        self.admin: AdminConnection | None = None
        self.observer: Observer | None = None

    @property
    def server(self) -> str:
        """``host:port`` of the memcached, as the stats and series name it."""
        return self.memcached.server

    # -- memcached connections (call without the lock)

    def open(self) -> None:
        """Make memcached's logins match, connect the admin connection and the log watcher."""
        self.sync_logins()
        address = self.memcached.address
        self.admin = AdminConnection(address, self._login_for_admin, self._log_admin)
        self.observed_since = self.clock()
        self.observer = Observer(address, self._login_for_admin, self._on_event)
        if not self.observer.start(f"MemCachierAPIServer-watch:{self.memcached.port}"):
            logger.warning(
                "MemCachierAPIServer: memcached's watch stream is not available; "
                "introspection from key events will stay empty"
            )

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
        if self.admin is not None:
            self.admin.close()

    def require_admin(self) -> AdminConnection:
        if self.admin is None:
            raise MemcachedError("the server is not started")
        return self.admin

    def sync_events(self) -> None:
        """Wait until every event memcached logged before the call has arrived."""
        if self.observer is not None:
            self.observer.sync()

    def sample_now(self) -> float:
        """Take one sample of memcached now (and of the watched prefixes); returns its time."""
        with self._sample_lock:
            with self.lock:
                prefixes = dict(self.prefixes)
            dump: list[tuple[str, int, int]] | None = None
            if prefixes:
                self.sync_events()
                dump = self._metadump()
            t0 = time.perf_counter_ns()
            raw = self.require_admin().stats()
            latency = float(time.perf_counter_ns() - t0)
            now = self.clock()
            with self.lock:
                prefix_samples: dict[int, PrefixSample] = {}
                for pid, name in self.prefixes.items():
                    counts = self.prefix_counts.setdefault(pid, PrefixCounts())
                    num_keys = total = None
                    if dump is not None:
                        alive = [
                            size
                            for key, exp, size in dump
                            if key.startswith(name) and (exp < 0 or exp > raw.get("time", 0))
                        ]
                        num_keys, total = len(alive), sum(alive)
                    prefix_samples[pid] = PrefixSample(
                        num_keys, total, counts.hits, counts.misses, counts.mutations
                    )
                self.samples.append(
                    Sample(now, {self.server: raw}, {self.server: latency}, prefix_samples)
                )
            return now

    def reset(self) -> None:
        """Back to the state after start, memcached flushed and its stats reset."""
        with self.lock:
            # memcached stamps its log lines with the wall clock of this host: whatever it
            # logged before now and is still on its way through the stream is dropped.
            self.floor = time.time()
            self.restore()
            self.samples.clear()
            self.events.clear()
            self.recent.clear()
            self.observed_since = self.clock()
        self.sync_logins()
        if self.admin is not None:
            self.admin.command(b"flush_all\r\n")
            self.admin.command(b"stats reset\r\n")
            self.sample_now()

    def sync_logins(self) -> None:
        """Make memcached's authfile hold the primary and the oldest credentials (up to 8).

        Call without the lock. Waits until memcached applies the file; a failure is
        logged, the API state stays as it is.
        """
        with self._auth_lock:
            with self.lock:
                has_auth = bool(self.memcached.users)
                wanted: dict[str, str] = {}
                for cred in self.ordered():
                    cred.login = has_auth and len(wanted) < MAX_USERS
                    if cred.login:
                        wanted[cred.username] = cred.secret
            if not has_auth or not self.memcached.running:
                return
            current = self.memcached.users
            if list(current.items()) == list(wanted.items()):
                return
            try:
                self.memcached.reload_auth(wanted)
            except (MemcachedError, OSError) as err:
                logger.warning("MemCachierAPIServer: could not update memcached logins: %s", err)

    # -- state (call with the lock held)

    def restore(self) -> None:
        """The credentials, flags, alerts, configs and prefixes of a cache just started."""
        self.creds: dict[str, Cred] = {}
        for index, (user, secret) in enumerate(self._initial):
            self.creds[user] = Cred(id=index + 1, username=user, secret=secret)
        self.next_cred_id = len(self._initial) + 1
        next(iter(self.creds.values())).primary = True
        self.alerts: dict[int, dict[str, Any]] = {}
        self.configs: dict[int, dict[str, Any]] = {}
        self.prefixes: dict[int, str] = {}
        self.prefix_counts: dict[int, PrefixCounts] = {}
        self.next_ids = {"alert": 1, "config": 1, "prefix": 1}
        self.enabled = True
        self.cluster = CLUSTERS[0]
        self.sso_secret = secrets.token_hex(16)
        self.can_switch = True
        self.can_manage_credentials = True
        self.can_update_capabilities = True

    def next_id(self, kind: str) -> int:
        """A new id for an ``"alert"``, ``"config"`` or ``"prefix"``."""
        value = self.next_ids[kind]
        self.next_ids[kind] += 1
        return value

    def primary(self) -> Cred:
        for cred in self.creds.values():
            if cred.primary:
                return cred
        raise AssertionError("no primary credential")  # pragma: no cover

    def ordered(self) -> list[Cred]:
        return sorted(self.creds.values(), key=lambda c: (not c.primary, c.id))

    def new_cred(self, *, write: bool = True, flush: bool = True, api: bool = True) -> Cred:
        cred = Cred(
            id=self.next_cred_id,
            username=new_username(set(self.creds)),
            secret=secrets.token_hex(16),
            write=write,
            flush=flush,
            api=api,
        )
        self.next_cred_id += 1
        self.creds[cred.username] = cred
        return cred

    def find_cred(self, ref: str, version: str) -> Cred:
        """A credential by username, else by numeric id.

        Ambiguity: v1's request lines name ``<cred_id>`` and its examples
        ``<cred_username>``; both are accepted, the username first.
        """
        cred = self.creds.get(ref)
        if cred is None and ref.isascii() and ref.isdigit():
            cred = next((c for c in self.creds.values() if c.id == int(ref)), None)
        if cred is None:
            raise Invalid(404, "No credentials found." if version == "v1" else "Not found.")
        return cred

    def check_manage(self, version: str, *, capabilities: bool = False) -> None:
        """Refuse credential management (``capabilities``: updates) the cache's flags forbid."""
        allowed = self.can_manage_credentials and (not capabilities or self.can_update_capabilities)
        if not allowed:
            raise Invalid(403, V1_FORBIDDEN if version == "v1" else V2_NOT_ALLOWED_TO_MANAGE)

    # -- callbacks of the memcached connections

    def _login_for_admin(self) -> tuple[str, str] | None:
        users = self.memcached.users
        if not users:
            return None
        with self.lock:
            for cred in self.ordered():
                if users.get(cred.username) == cred.secret:
                    return cred.username, cred.secret
        return next(iter(users.items()))

    def _on_event(
        self, kind: str, key: str, command: str, status: str, size: int, logged: float
    ) -> None:
        event = Event(self.clock(), kind, key, command, status, size, logged)
        with self.lock:
            if logged <= self.floor:
                return  # memcached logged it before the last reset()
            self.events.append(event)
            self.recent.append(event)
            if kind in ("hit", "miss", "mutation"):
                for pid, name in self.prefixes.items():
                    if key.startswith(name):
                        counts = self.prefix_counts.setdefault(pid, PrefixCounts())
                        if kind == "hit":
                            counts.hits += 1
                        elif kind == "miss":
                            counts.misses += 1
                        else:
                            counts.mutations += 1

    def _log_admin(self, command: str, status: str) -> None:
        event = Event(self.clock(), "admin", "", command, status, 0)
        with self.lock:
            self.recent.append(event)

    def _metadump(self) -> list[tuple[str, int, int]] | None:
        with self.lock:
            last = self.samples[-1] if self.samples else None
        if last is not None and sum_stats(last.stats.values()).get("curr_items", 0) > (
            METADUMP_MAX_ITEMS
        ):
            return None
        return self.require_admin().metadump()


__all__ = [
    "CLUSTERS",
    "MAX_EVENTS",
    "MAX_SAMPLES",
    "METADUMP_MAX_ITEMS",
    "RECENT_LOG_LINES",
    "CacheState",
]
