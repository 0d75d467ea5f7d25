"""A local MemCachier analytics API server (v1 and v2) acting on a real memcached.

It serves every endpoint of MemCachier's analytics API v1 (``/api/v1/...``, plus
``/api/login``) and v2 (``/api/v2/caches/<cache_id>/...``) on one loopback port, and its
commands act on a real memcached (:class:`~cacheops.testing.memcached.MemcachedServer`)::

    from cacheops.testing.memcachier_api_server import MemCachierAPIServer

    with MemCachierAPIServer() as api:           # starts and owns a memcached with auth
        user, password = api.primary_credentials
        requests.post(f"{api.base_url}/api/v1/{api.cache_id}/flush", auth=(user, password))

Credentials
-----------
Every credential has a ``sasl_username`` and a ``sasl_password`` of the form
``"<username> <secret>"``: that is the MemCachier password a client is configured with, and
(see :mod:`cacheops.testing.memcached`) exactly the ``<user> <pass>`` login payload a real
memcached started with an authfile accepts for the line ``username:secret``. So the same
``MEMCACHIER_USERNAME`` / ``MEMCACHIER_PASSWORD`` work for HTTP basic auth against this
server and for the MemCachier-format login against its memcached.

- The primary credential exists from the start (:attr:`MemCachierAPIServer.primary_credentials`).
  With a memcached passed in that has users, its users become the credentials (the first
  one primary); otherwise one is generated.
- Credentials created through the API are also memcached logins, as long as memcached can
  hold them: memcached's authfile takes at most 8 users, so the logins are the primary
  plus the oldest other credentials up to 8; later ones are API-only until a slot frees
  (deleting a login, or promoting an API-only credential, recomputes the set).
  :meth:`MemCachierAPIServer.memcached_logins` lists them. Changes are applied with
  :meth:`MemcachedServer.reload_auth` before the API answers, so a created credential
  logs in at once (the real service can take minutes) and a deleted one stops at once.
  With a memcached without users every credential is API-only.
- Capabilities are enforced by the API only: ``api_capability`` false gives 403 on every
  API call (v1 ``"You are not authorized to perform this action."``, v2 ``"Forbidden to
  access cache with this ID."``); ``flush_capability`` false refuses an API flush (v1 the
  documented 403; v2 a 403 naming the capability) and nothing is flushed. Over the
  memcache protocol memcached cannot enforce ``write_capability`` or
  ``flush_capability`` (its logins have no read-only mode): those are stored and reported.

Error bodies
------------
v1 documents its responses as JSON values (``403 "You are not authorized to perform
this action."``, ``200 ""``): v1 errors are a JSON *string*, and flush/delete answer the
JSON string ``""``. v2 documents only descriptions: v2 errors are ``{"error": "<message>"}``
with the documented message. Unknown route 404 and wrong verb 405 (with ``Allow``) use the
shape of the API version the path names (``{"error": ...}`` outside both).

What the server measures, and how every derived number is computed
-------------------------------------------------------------------
Nothing is invented: every number comes from memcached itself.

*Samples.* A sampler thread (every ``sample_interval`` seconds; ``None``: no thread) and
:meth:`MemCachierAPIServer.sample_now` read memcached's ``stats`` over one persistent,
logged-in admin connection and keep ``(clock(), stats, latency)`` (at most ``max_samples``).
Latency is the round-trip time of that ``stats`` command, in nanoseconds. v1 ``history``
lists the samples; insight and compound stats are computed from them.

*Documented stats shape.* v1 ``stats``/``history`` and v2 ``stats`` carry exactly the 31
documented keys, read from memcached's ``stats``, except two memcached does not have:
``cmd_delete`` = ``delete_hits + delete_misses`` and ``expired`` = ``get_expired``.
v2 ``stats`` is one flat object (summed over servers; ``time`` is the latest). The
server's own traffic is real traffic: its admin, log-stream and synchronisation
connections count in ``curr_connections``/``total_connections``, its logins in
``auth_cmds``, and each ``stats`` in ``bytes_read``/``bytes_written``.

*Series.* A row needs two consecutive samples: each interval (previous sample, sample)
belongs to the time bucket of its later sample when that lies in ``[startTime, endTime]``
(RFC 3339; defaults: 24 h ago, now). Buckets are aligned on the epoch, with the documented
granularity (span <= 24 h: 1 min (latency: 20 s); <= 1 week: 10 min; <= 90 days: 1 h;
above: 1 day); only buckets holding data are listed (no ``null`` fill); an empty window
still returns the series with ``"values": []``. In a bucket, a *rate* is the sum of the
counter's increases divided by the seconds covered (per second); a *gauge* is the value of
the bucket's last sample; a *ratio* is increase of the numerator / increase of the
denominator, between 0 and 1 (0 when nothing happened). A counter that went down (``stats
reset``, restart) counts its new value as the increase. Samples with the same clock time
keep the last. Definitions (``requests`` = ``cmd_get + cmd_set + deletes + incrs + decrs +
cmd_touch + cmd_flush``; ``deletes`` = ``delete_hits + delete_misses``, likewise
``incrs``, ``decrs``; ``cas`` = ``cas_hits + cas_misses + cas_badval``; memcached counts
cas also in ``cmd_set``, so ``cas_fraction`` overlaps ``set_fraction``)::

    X_rate            rate of: auth_cmds, auth_errors, bytes_read, bytes_written (for
                      bytes_write_rate), cas_badval, cas, total_connections (connection_rate),
                      decrs, deletes, evictions (eviction_rate), cmd_flush (flush_rate),
                      get_expired, cmd_get, incrs, requests, cmd_set, cmd_touch
    X_fraction        ratio of cas, decrs, deletes, cmd_flush, cmd_get, incrs, cmd_set,
                      cmd_touch to requests
    X_hit_rate        ratio of hits to (hits + misses) of that command (cas: to ``cas``);
                      hit_rate = get_hit_rate = get_hits / (get_hits + get_misses)
    bytes, connections, items, max_bytes
                      gauges: bytes, curr_connections, curr_items, limit_maxbytes

Per server: one series per memcached, tagged ``{"server": "host:port"}``; aggregate: the
servers' stats summed first. Latency: per server, the mean of the samples' latency in the
bucket (samples alone, no interval needed). Compound stats: ``num_keys`` = gauge
``curr_items``, ``total_size`` = gauge ``bytes``, ``total_hits_rate`` = rate of
``get_hits``, ``total_misses_rate`` = rate of ``get_misses``, ``total_mutations_rate`` =
rate of ``cmd_set + delete_hits + incr_hits + decr_hits``; same granularity as insight.

*Per-key data* comes from memcached's own log stream: a second connection runs ``watch
fetchers mutations evictions connevents`` and the server keeps the events (at most
100,000). memcached 1.6 logs every key lookup as ``item_get`` (found / not_found /
expired / flushed), every store as ``item_store`` (with its command and result) and every
eviction; a store's own lookup (an ``item_get`` of the same key on the same connection
right before the ``item_store``) is dropped. memcached logs no event of its own for
``delete``, ``incr``, ``decr`` or ``touch``: they appear through their lookup, so they
count as a hit (key present) or a miss. Hence: a *hit* is a found lookup, a *miss* a
lookup that found nothing, a *mutation* a store whose result was ``stored``. Before
answering, the endpoints built on events synchronise with the stream (they open and close
one connection to memcached and wait for its ``conn_new`` event, so everything memcached
logged earlier has arrived; after memcached has been idle for seconds its logger thread
can take up to about a second to deliver): a client that wrote before asking sees its
writes. :meth:`MemCachierAPIServer.reset` does not wait: events memcached logged before the
reset (by its own ``ts``, this host's wall clock) are dropped whenever they arrive.

- ``recent_logs``: the last 100 entries for the server, oldest first: each event
  (``command`` GET / SET, ADD, CAS... / EVICTION; ``status`` memcached's result in capitals,
  e.g. FOUND, NOT_FOUND, STORED, EXISTS, EVICTED; ``size`` the value size memcached
  logged) and each command this server sent (STATS, FLUSH_ALL, STATS RESET; key ``""``,
  status OK or the error; size 0). ``timestamp``: this server's clock when it saw the event.
- ``popular_items``: over the kept events, ``most_hit_keys`` / ``most_missed_keys`` /
  ``most_mutated_keys`` rank keys by their number of hits / misses / mutations;
  ``popular_prefixes`` ranks key prefixes by hits + misses + mutations (top 10 each, ties
  by name, zero counts left out). A key's prefix is the key up to and including its first
  ``:``, ``/``, ``|`` or ``.`` (keys without one have none). ``time_slice``: the
  nanoseconds those events span (from the start of observation, or the oldest kept event
  once old ones were dropped, to now).
- ``key_stats``: one entry: counts of the key's hits, misses and mutations as above;
  ``in_cache`` from memcached's ``me`` (meta debug, which neither counts nor bumps the key);
  ``size`` the value size last logged for the key, else the item size ``me`` reports,
  0 when not in the cache; ``timestamp`` now.
- Watched prefixes: counting starts when a prefix is watched. Each sample then also
  records, per watched prefix, its running hit/miss/mutation counts (keys starting with the
  prefix) and, from memcached's ``lru_crawler metadump all`` (skipped above 100,000
  items), ``num_keys`` and ``total_size`` (the sum of the items' sizes as memcached counts
  them in ``bytes``: key, value and item header). Prefix stats are series over those
  samples (rates as above, ``null`` where the metadump could not be taken); prefix popular
  items rank the keys under the prefix, and as ``popular_prefixes`` the prefix plus the
  next segment of the rest of the key.

Management and alerts: ``rotate_sso`` stores and returns a new random SSO secret;
``enable_cache`` sets ``enabled``; ``switch_cluster`` moves to the other of two cluster
names (the data stays on the same memcached). Alerts and delivery configs are kept in
memory with the documented shapes and validation; no alert is ever delivered.

Choices where the documents are ambiguous are marked "Ambiguity" next to the code.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import itertools
import json
import logging
import math
import re
import secrets
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

from cacheops.admin.memcachier import STATS_COUNTERS
from cacheops.testing.http_server import NO_BODY, APIRequestHandler, Faults, LocalAPIServer
from cacheops.testing.memcached import (
    ERROR_PREFIXES,
    MAX_USERS,
    MemcachedError,
    MemcachedServer,
    login_payload,
    read_reply,
)

__all__ = [
    "DEFAULT_CACHE_ID",
    "DOCUMENTED_STATS",
    "PROCESSED_STAT_NAMES",
    "V1_FORBIDDEN",
    "V1_NO_CACHE",
    "V2_CACHE_NOT_FOUND",
    "V2_FORBIDDEN",
    "V2_INVALID_CACHE_ID",
    "V2_NOT_ALLOWED_TO_MANAGE",
    "V2_UNAUTHORIZED",
    "Credential",
    "Faults",
    "MemCachierAPIServer",
    "RecordedRequest",
    "Sample",
]

logger = logging.getLogger(__name__)

#: The cache id of the v1 document's ``/login`` example.
DEFAULT_CACHE_ID = 1561
DEFAULT_SAMPLE_INTERVAL = 10.0
MAX_SAMPLES = 10_000
MAX_EVENTS = 100_000
RECENT_LOG_LINES = 100
POPULAR_LIMIT = 10
METADUMP_MAX_ITEMS = 100_000
MAX_BODY_BYTES = 1_048_576
PREFIX_DELIMITERS = ":/|."
CLUSTERS = ("local-1", "local-2")

# Messages quoted from the documents.
V1_FORBIDDEN = "You are not authorized to perform this action."
V1_NO_CACHE = "No cache found."
V2_INVALID_CACHE_ID = "The specified cache ID is invalid (not a number)."
V2_UNAUTHORIZED = "Unauthorized to access cache with this ID."
V2_FORBIDDEN = "Forbidden to access cache with this ID."
V2_CACHE_NOT_FOUND = "Cache not found."
V2_NOT_ALLOWED_TO_MANAGE = "Not allowed to manage credentials."
V2_NAMES_REQUIRED = "Query parameter names is required."
V2_ALERT_NEEDS_TYPE = "The alert could not be added. An alert requires a type."
V2_CONFIG_NEEDS_TYPE = (
    "The alert delivery config could not be added. An alert delivery config requires a type."
)
V2_INVALID_ALERT_ID = "The specified alert ID is invalid (not a number)."
V2_INVALID_CONFIG_ID = "The specified alert delivery config ID is invalid (not a number)."
# Not documented: chosen here.
V2_NO_FLUSH_CAPABILITY = "Not allowed to flush this cache: the credentials lack flush_capability."
PRIMARY_NOT_DELETABLE = "The primary credentials cannot be deleted; promote another set first."

#: The stats keys both documents show, in their order: the client's list
#: (cacheops.admin.memcachier), so that the two cannot drift apart.
DOCUMENTED_STATS = STATS_COUNTERS

# Composite counters, computed from one memcached stats dict.
_Stats = Mapping[str, Any]

_TERMS: dict[str, Callable[[_Stats], int]] = {
    "cas": lambda s: s.get("cas_hits", 0) + s.get("cas_misses", 0) + s.get("cas_badval", 0),
    "deletes": lambda s: s.get("delete_hits", 0) + s.get("delete_misses", 0),
    "incrs": lambda s: s.get("incr_hits", 0) + s.get("incr_misses", 0),
    "decrs": lambda s: s.get("decr_hits", 0) + s.get("decr_misses", 0),
    "gets": lambda s: s.get("get_hits", 0) + s.get("get_misses", 0),
    "touches": lambda s: s.get("touch_hits", 0) + s.get("touch_misses", 0),
    "requests": lambda s: (
        s.get("cmd_get", 0)
        + s.get("cmd_set", 0)
        + s.get("delete_hits", 0)
        + s.get("delete_misses", 0)
        + s.get("incr_hits", 0)
        + s.get("incr_misses", 0)
        + s.get("decr_hits", 0)
        + s.get("decr_misses", 0)
        + s.get("cmd_touch", 0)
        + s.get("cmd_flush", 0)
    ),
    "mutations": lambda s: (
        s.get("cmd_set", 0)
        + s.get("delete_hits", 0)
        + s.get("incr_hits", 0)
        + s.get("decr_hits", 0)
    ),
}

#: Every ``names`` value the v2 document lists, in its order, with its definition:
#: ("rate", counter), ("gauge", stat), ("ratio", numerator, denominator).
_PROCESSED: dict[str, tuple[str, ...]] = {
    "auth_cmds_rate": ("rate", "auth_cmds"),
    "auth_errors_rate": ("rate", "auth_errors"),
    "bytes": ("gauge", "bytes"),
    "bytes_read_rate": ("rate", "bytes_read"),
    "bytes_write_rate": ("rate", "bytes_written"),
    "cas_badval_rate": ("rate", "cas_badval"),
    "cas_fraction": ("ratio", "cas", "requests"),
    "cas_hit_rate": ("ratio", "cas_hits", "cas"),
    "cas_rate": ("rate", "cas"),
    "connection_rate": ("rate", "total_connections"),
    "connections": ("gauge", "curr_connections"),
    "decr_fraction": ("ratio", "decrs", "requests"),
    "decr_hit_rate": ("ratio", "decr_hits", "decrs"),
    "decr_rate": ("rate", "decrs"),
    "delete_fraction": ("ratio", "deletes", "requests"),
    "delete_hit_rate": ("ratio", "delete_hits", "deletes"),
    "delete_rate": ("rate", "deletes"),
    "eviction_rate": ("rate", "evictions"),
    "flush_fraction": ("ratio", "cmd_flush", "requests"),
    "flush_rate": ("rate", "cmd_flush"),
    "get_expired_rate": ("rate", "get_expired"),
    "get_fraction": ("ratio", "cmd_get", "requests"),
    "get_hit_rate": ("ratio", "get_hits", "gets"),
    "get_rate": ("rate", "cmd_get"),
    "hit_rate": ("ratio", "get_hits", "gets"),
    "incr_fraction": ("ratio", "incrs", "requests"),
    "incr_hit_rate": ("ratio", "incr_hits", "incrs"),
    "incr_rate": ("rate", "incrs"),
    "items": ("gauge", "curr_items"),
    "max_bytes": ("gauge", "limit_maxbytes"),
    "request_rate": ("rate", "requests"),
    "set_fraction": ("ratio", "cmd_set", "requests"),
    "set_rate": ("rate", "cmd_set"),
    "touch_fraction": ("ratio", "cmd_touch", "requests"),
    "touch_hit_rate": ("ratio", "touch_hits", "touches"),
    "touch_rate": ("rate", "cmd_touch"),
}
PROCESSED_STAT_NAMES = tuple(_PROCESSED)

_COMPOUND: dict[str, tuple[str, ...]] = {
    "num_keys": ("gauge", "curr_items"),
    "total_size": ("gauge", "bytes"),
    "total_hits_rate": ("rate", "get_hits"),
    "total_misses_rate": ("rate", "get_misses"),
    "total_mutations_rate": ("rate", "mutations"),
}
_PREFIX_COLUMNS = (
    "num_keys",
    "total_size",
    "total_hits_rate",
    "total_misses_rate",
    "total_mutations_rate",
)

_DAY = 86_400.0
_NO_BODY = NO_BODY  # a reply without a body (204, or a 2xx the documents show none for)
_ADMIN_TIMEOUT = 5.0
_SYNC_TIMEOUT = 3.0
_PENDING_GRACE = 0.5  # a lookup not followed by its store within this time is a real lookup


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Credential:
    """A snapshot of one credential; ``password`` is the full MemCachier password
    (``"<username> <secret>"``) and never shown by ``repr``."""

    id: int
    username: str
    password: str = field(repr=False)
    write_capability: bool
    flush_capability: bool
    api_capability: bool
    primary: bool
    memcached_login: bool


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; never holds a password.

    ``path`` is the raw request target (query string included); ``user`` the basic-auth
    username when the credential authenticated, else ``None``; ``api`` ``"v1"``, ``"v2"``
    or ``None``; ``route`` the matched endpoint's name; ``status`` the status sent (``None``
    when the connection was dropped before answering); ``fault`` the injected fault, if any.
    """

    method: str
    path: str
    status: int | None
    user: str | None = None
    api: str | None = None
    route: str | None = None
    fault: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class _PrefixSample:
    num_keys: int | None
    total_size: int | None
    hits: int
    misses: int
    mutations: int


@dataclass(frozen=True)
class Sample:
    """One sampling of memcached: ``stats`` maps ``host:port`` to memcached's integer
    stats; ``latency_ns`` maps it to the ``stats`` round trip."""

    time: float
    stats: Mapping[str, Mapping[str, int]]
    latency_ns: Mapping[str, float]
    prefixes: Mapping[int, _PrefixSample] = field(default_factory=dict, repr=False)


@dataclass
class _Cred:
    id: int
    username: str
    secret: str
    write: bool = True
    flush: bool = True
    api: bool = True
    primary: bool = False
    login: bool = False

    @property
    def password(self) -> str:
        return f"{self.username} {self.secret}"

    def snapshot(self) -> Credential:
        return Credential(
            id=self.id,
            username=self.username,
            password=self.password,
            write_capability=self.write,
            flush_capability=self.flush,
            api_capability=self.api,
            primary=self.primary,
            memcached_login=self.login,
        )

    def capabilities(self) -> dict[str, bool]:
        # The order of both documents' update responses.
        return {
            "flush_capability": self.flush,
            "write_capability": self.write,
            "api_capability": self.api,
        }


@dataclass(frozen=True)
class _Event:
    time: float
    kind: str  # "hit", "miss", "mutation", "not_stored", "eviction", "admin"
    key: str
    command: str
    status: str
    size: int
    logged: float | None = None  # memcached's own ts; None for this server's commands


@dataclass
class _PrefixCounts:
    hits: int = 0
    misses: int = 0
    mutations: int = 0


@dataclass
class _Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    route: str | None = None


class _Invalid(Exception):
    """An answer with an error status, in the shape of the request's API version."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class _Ctx:
    version: str
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]
    cred: _Cred


# --------------------------------------------------------------------------- memcached I/O


def _ts(fields: Mapping[str, str]) -> float:
    """memcached's own timestamp of a log line.

    memcached 1.6 prints it as ``%d.%d`` of seconds and microseconds, without zero padding:
    ``ts=1795411941.75543`` is 75,543 microseconds past the second, not 0.75543 s.
    """
    seconds, _, micros = fields.get("ts", "0").partition(".")
    try:
        return int(seconds) + (int(micros) if micros else 0) / 1e6
    except ValueError:
        return 0.0


def _parse_stats(reply: bytes) -> dict[str, int]:
    stats: dict[str, int] = {}
    for line in reply.decode(errors="replace").split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            with contextlib.suppress(ValueError):
                stats[parts[1]] = int(parts[2])
    return stats


class _AdminConnection:
    """One persistent, logged-in connection for stats, flush_all, stats reset, me, metadump.

    Reconnects (and logs in again) once when a command fails on a stale connection.
    """

    def __init__(self, address: tuple[str, int], login: Callable[[], tuple[str, str] | None]):
        self._address = address
        self._login = login
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def command(self, payload: bytes, terminator: bytes = b"\r\n") -> bytes:
        with self._lock:
            for attempt in (0, 1):
                try:
                    sock = self._connect()
                    sock.sendall(payload)
                    reply = read_reply(sock, terminator)
                except (OSError, MemcachedError):
                    self._close()
                    if attempt:
                        raise
                    continue
                if reply.startswith(b"CLIENT_ERROR unauthenticated") and not attempt:
                    self._close()
                    continue
                return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        sock = socket.create_connection(self._address, timeout=_ADMIN_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        login = self._login()
        if login is not None:
            sock.sendall(login_payload(*login))
            reply = read_reply(sock, b"\r\n")
            if reply != b"STORED\r\n":
                sock.close()
                raise MemcachedError(f"admin login refused by memcached: {reply!r}")
        self._sock = sock
        return sock

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


class _Observer:
    """Reads memcached's ``watch`` log stream in a daemon thread and turns it into events.

    A lookup (``item_get``) is held back until the next event of the same connection
    (``cfd``): if that is a store of the same key, the lookup was the store's own and is
    dropped. :meth:`sync` waits until everything memcached logged before the call arrived.
    """

    def __init__(
        self,
        address: tuple[str, int],
        login: Callable[[], tuple[str, str] | None],
        on_event: Callable[[str, str, str, str, int, float], None],
    ) -> None:
        self._address = address
        self._login = login
        self._on_event = on_event  # (kind, key, command, status, size, memcached's ts)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, dict[str, str]]] = {}
        self._markers: dict[int, threading.Event] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> bool:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self._ready.wait(5.0)

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def sync(self, timeout: float = _SYNC_TIMEOUT) -> bool:
        """Open and close a marker connection; wait until its ``conn_new`` was read."""
        if not self._ready.is_set():
            self.commit_pending()
            return False
        family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
        marker = socket.socket(family, socket.SOCK_STREAM)
        seen = threading.Event()
        try:
            marker.bind((self._address[0], 0))
            port = int(marker.getsockname()[1])
            with self._lock:
                self._markers[port] = seen
            marker.settimeout(_ADMIN_TIMEOUT)
            marker.connect(self._address)
        except OSError:
            return False
        finally:
            marker.close()
        try:
            ok = seen.wait(timeout)
        finally:
            with self._lock:
                self._markers.pop(port, None)
        self.commit_pending()
        return ok

    def commit_pending(self, older_than: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            ready = [
                cfd
                for cfd, (seen, _) in self._pending.items()
                if older_than is None or now - seen >= older_than
            ]
            lookups = [self._pending.pop(cfd)[1] for cfd in ready]
        for fields in lookups:
            self._emit(fields)

    # -- the thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = self._open()
            except (OSError, MemcachedError) as err:
                logger.debug("MemCachierAPIServer: watch connection failed: %s", err)
                self._stop.wait(0.2)
                continue
            self._sock = sock
            self._ready.set()
            try:
                self._read(sock)
            finally:
                self._sock = None
                with contextlib.suppress(OSError):
                    sock.close()
                self.commit_pending()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self._address, timeout=_ADMIN_TIMEOUT)
        try:
            login = self._login()
            if login is not None:
                sock.sendall(login_payload(*login))
                if read_reply(sock, b"\r\n") != b"STORED\r\n":
                    raise MemcachedError("watch connection: login refused")
            sock.sendall(b"watch fetchers mutations evictions connevents\r\n")
            if read_reply(sock, b"\r\n") != b"OK\r\n":
                raise MemcachedError("memcached refused the watch command")
        except BaseException:
            sock.close()
            raise
        sock.settimeout(0.25)
        return sock

    def _read(self, sock: socket.socket) -> None:
        buf = b""
        markers: list[int] = []
        while not self._stop.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = None
            except OSError:
                return
            if chunk == b"":
                return
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    port = self._on_line(line.decode("utf-8", errors="replace").strip())
                    if port is not None:
                        markers.append(port)
            if markers:
                # Events of one logger pass may come in any order across worker threads:
                # release the markers only once the stream has paused.
                try:
                    readable = select.select([sock], [], [], 0.005)[0]
                except (OSError, ValueError):
                    return
                if not readable:
                    with self._lock:
                        waiting = [self._markers.get(p) for p in markers]
                    for event in waiting:
                        if event is not None:
                            event.set()
                    markers.clear()
            self.commit_pending(older_than=_PENDING_GRACE)

    def _on_line(self, line: str) -> int | None:
        """Handle one log line; returns the remote port of a ``conn_new`` event."""
        fields: dict[str, str] = {}
        for part in line.split(" "):
            name, sep, value = part.partition("=")
            if sep:
                fields[name] = value
        kind = fields.get("type")
        if kind == "conn_new":
            with contextlib.suppress(ValueError):
                return int(fields.get("rport", ""))
            return None
        if kind not in ("item_get", "item_store", "eviction") or "key" not in fields:
            return None
        cfd = fields.get("cfd", "")
        with self._lock:
            held = self._pending.pop(cfd, None) if cfd else None
        if held is not None:
            _, lookup = held
            if not (kind == "item_store" and lookup.get("key") == fields.get("key")):
                self._emit(lookup)
        if kind == "item_get" and cfd:
            with self._lock:
                self._pending[cfd] = (time.monotonic(), fields)
            return None
        self._emit(fields)
        return None

    def _emit(self, fields: dict[str, str]) -> None:
        logged = _ts(fields)
        key = unquote(fields.get("key", ""))
        status = fields.get("status", "")
        try:
            size = int(fields.get("size", "0"))
        except ValueError:
            size = 0
        kind = fields.get("type")
        if kind == "item_get":
            if status == "found":
                self._on_event("hit", key, "GET", "FOUND", size, logged)
            else:
                self._on_event("miss", key, "GET", status.upper() or "NOT_FOUND", 0, logged)
        elif kind == "item_store":
            outcome = "mutation" if status == "stored" else "not_stored"
            command = fields.get("cmd", "set").upper()
            self._on_event(outcome, key, command, status.upper(), size, logged)
        elif kind == "eviction":
            self._on_event("eviction", key, "EVICTION", "EVICTED", size, logged)


# --------------------------------------------------------------------------- server


class MemCachierAPIServer(LocalAPIServer[RecordedRequest]):
    """A local MemCachier analytics API (v1 and v2) on loopback, acting on a real memcached.

    ``memcached``: the server the commands act on; without one, a memcached with ASCII
    authentication is started and owned (stopped with this server). ``clock`` timestamps
    samples, events and the default ``startTime``/``endTime``, so tests can move time.
    ``sample_interval``: seconds between automatic samples (``None``: only
    :meth:`sample_now`). ``username``/``secret`` name the generated primary credential
    (only without a memcached that has users, whose users become the credentials).
    """

    _name = "MemCachierAPIServer"
    _logger = logger

    def __init__(
        self,
        memcached: MemcachedServer | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        sample_interval: float | None = DEFAULT_SAMPLE_INTERVAL,
        cache_id: int = DEFAULT_CACHE_ID,
        username: str | None = None,
        secret: str | None = None,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        if sample_interval is not None and not sample_interval > 0:
            raise ValueError("sample_interval must be > 0, or None for no sampler thread")
        if isinstance(cache_id, bool) or not isinstance(cache_id, int) or cache_id < 1:
            raise ValueError("cache_id must be a positive integer")
        if max_samples < 2:
            raise ValueError("max_samples must be at least 2")
        for what, text in (("username", username), ("secret", secret)):
            if text is not None and (
                not text or ":" in text or any(ord(c) <= 32 or ord(c) == 127 for c in text)
            ):
                raise ValueError(f"{what} must be non-empty, without whitespace or ':'")
        super().__init__(host=host, port=port, handler=_Handler)
        self._clock = clock
        self._sample_interval = sample_interval
        self._cache_id = cache_id

        initial: list[tuple[str, str]]
        if memcached is None:
            user = username or _new_username(set())
            memcached = MemcachedServer(users={user: secret or secrets.token_hex(16)})
            self._owns_memcached = True
            initial = list(memcached.users.items())
        else:
            self._owns_memcached = False
            initial = list(memcached.users.items())
            if initial and (username is not None or secret is not None):
                raise ValueError(
                    "this memcached has users: they are the credentials, "
                    "so username and secret cannot be given"
                )
            if not initial:
                initial = [(username or _new_username(set()), secret or secrets.token_hex(16))]
        self._memcached = memcached
        self._initial = initial

        # self._lock (the base's) guards all API state below, and the request log.
        self._auth_lock = threading.Lock()  # serialises authfile reloads
        self._sample_lock = threading.Lock()
        self._creds: dict[str, _Cred] = {}
        self._next_cred_id = 1
        self._samples: deque[Sample] = deque(maxlen=max_samples)
        self._events: deque[_Event] = deque(maxlen=MAX_EVENTS)
        self._recent: deque[_Event] = deque(maxlen=RECENT_LOG_LINES)
        self._observed_since = 0.0
        self._floor = 0.0  # events memcached logged (its ts) up to this time are dropped
        self._alerts: dict[int, dict[str, Any]] = {}
        self._configs: dict[int, dict[str, Any]] = {}
        self._prefixes: dict[int, str] = {}
        self._prefix_counts: dict[int, _PrefixCounts] = {}
        self._next_ids = {"alert": 1, "config": 1, "prefix": 1}
        self._enabled = True
        self._cluster = CLUSTERS[0]
        self._sso_secret = secrets.token_hex(16)
        self._can_switch = True
        self._can_manage_credentials = True
        self._can_update_capabilities = True
        self._restore_state()

        self._admin: _AdminConnection | None = None
        self._observer: _Observer | None = None
        self._stop_sampler = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- lifecycle (start(), stop(), running and the context manager: LocalAPIServer)

    def _start_locked(self) -> None:
        """Start (the owned memcached,) the log watcher, the sampler, then the HTTP server."""
        if self._owns_memcached:
            self._memcached.start()
        elif not self._memcached.running:
            raise MemcachedError(f"{self._memcached!r} is not running: start it first")
        self._sync_logins()
        address = self._memcached.address
        self._admin = _AdminConnection(address, self._login_for_admin)
        self._observed_since = self._clock()
        self._observer = _Observer(address, self._login_for_admin, self._on_event)
        if not self._observer.start(f"MemCachierAPIServer-watch:{self._memcached.port}"):
            logger.warning(
                "MemCachierAPIServer: memcached's watch stream is not available; "
                "introspection from key events will stay empty"
            )
        self.sample_now()
        if self._sample_interval is not None:
            self._stop_sampler.clear()
            self._sampler = threading.Thread(
                target=self._sample_loop,
                name=f"MemCachierAPIServer-sampler:{self._memcached.port}",
                daemon=True,
            )
            self._sampler.start()
        super()._start_locked()

    def _stop_locked(self) -> None:
        """Stop serving, sampling and watching; stop the memcached if this server owns it."""
        super()._stop_locked()
        self._stop_sampler.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5.0)
            self._sampler = None
        if self._observer is not None:
            self._observer.stop()
        if self._admin is not None:
            self._admin.close()
        if self._owns_memcached:
            self._memcached.stop()

    # -- addresses and identity (host, port and base_url: LocalAPIServer)

    @property
    def v1_url(self) -> str:
        """``http://HOST:PORT/api/v1``."""
        return f"{self.base_url}/api/v1"

    @property
    def v2_url(self) -> str:
        """``http://HOST:PORT/api/v2``."""
        return f"{self.base_url}/api/v2"

    @property
    def cache_id(self) -> int:
        """The cache's id: what ``/login`` returns and both APIs' paths carry."""
        return self._cache_id

    @property
    def memcached(self) -> MemcachedServer:
        return self._memcached

    @property
    def memcached_server(self) -> str:
        """``host:port`` of the memcached, as the stats and series name it."""
        return self._memcached.server

    @property
    def primary_credentials(self) -> tuple[str, str]:
        """``(username, password)`` of the current primary credential."""
        with self._lock:
            cred = self._primary()
            return cred.username, cred.password

    def _repr_detail(self) -> str:
        return f"cache_id={self._cache_id}"

    # -- introspection and test controls (requests and clear_requests: LocalAPIServer)

    def credentials(self) -> list[Credential]:
        """Snapshots of every credential, oldest first."""
        with self._lock:
            return [cred.snapshot() for cred in self._creds.values()]

    def credential(self, username: str) -> Credential:
        with self._lock:
            cred = self._creds.get(username)
            if cred is None:
                raise KeyError(f"no credential {username!r}")
            return cred.snapshot()

    def memcached_logins(self) -> list[str]:
        """Usernames that can log in to the memcached right now (primary first)."""
        with self._lock:
            return [c.username for c in self._ordered() if c.login]

    def add_credential(
        self, *, write: bool = True, flush: bool = True, api: bool = True
    ) -> Credential:
        """Create a credential as the API would (a memcached login when a slot is free)."""
        with self._lock:
            cred = self._new_cred(write=write, flush=flush, api=api)
        self._sync_logins()
        return self.credential(cred.username)

    def set_capabilities(
        self,
        username: str,
        *,
        write: bool | None = None,
        flush: bool | None = None,
        api: bool | None = None,
    ) -> Credential:
        """Change a credential's capabilities directly (``None``: unchanged)."""
        with self._lock:
            cred = self._creds.get(username)
            if cred is None:
                raise KeyError(f"no credential {username!r}")
            if write is not None:
                cred.write = write
            if flush is not None:
                cred.flush = flush
            if api is not None:
                cred.api = api
            return cred.snapshot()

    def configure_cache(
        self,
        *,
        enabled: bool | None = None,
        can_switch: bool | None = None,
        can_manage_credentials: bool | None = None,
        can_update_capabilities: bool | None = None,
    ) -> None:
        """Set the cache's flags (``None``: unchanged). A development cache, for example:
        ``configure_cache(can_manage_credentials=False, can_update_capabilities=False)``."""
        with self._lock:
            if enabled is not None:
                self._enabled = enabled
            if can_switch is not None:
                self._can_switch = can_switch
            if can_manage_credentials is not None:
                self._can_manage_credentials = can_manage_credentials
            if can_update_capabilities is not None:
                self._can_update_capabilities = can_update_capabilities

    @property
    def enabled(self) -> bool:
        with self._lock:
            return self._enabled

    @property
    def cluster_name(self) -> str:
        with self._lock:
            return self._cluster

    @property
    def sso_secret(self) -> str:
        with self._lock:
            return self._sso_secret

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(alert) for alert in self._alerts.values()]

    def delivery_configs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(config) for config in self._configs.values()]

    def watched_prefixes(self) -> dict[int, str]:
        with self._lock:
            return dict(self._prefixes)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def sample_now(self) -> float:
        """Take one sample of memcached now (and of the watched prefixes); returns its time.

        Raises :class:`MemcachedError` (or ``OSError``) when memcached does not answer.
        """
        with self._sample_lock:
            with self._lock:
                prefixes = dict(self._prefixes)
            dump: list[tuple[str, int, int]] | None = None
            if prefixes:
                self._sync_events()
                dump = self._metadump()
            t0 = time.perf_counter_ns()
            raw = self._stats_command()
            latency = float(time.perf_counter_ns() - t0)
            now = self._clock()
            server = self.memcached_server
            with self._lock:
                prefix_samples: dict[int, _PrefixSample] = {}
                for pid, name in self._prefixes.items():
                    counts = self._prefix_counts.setdefault(pid, _PrefixCounts())
                    num_keys = total = None
                    if dump is not None:
                        alive = [
                            size
                            for key, exp, size in dump
                            if key.startswith(name) and (exp < 0 or exp > raw.get("time", 0))
                        ]
                        num_keys, total = len(alive), sum(alive)
                    prefix_samples[pid] = _PrefixSample(
                        num_keys, total, counts.hits, counts.misses, counts.mutations
                    )
                self._samples.append(Sample(now, {server: raw}, {server: latency}, prefix_samples))
            return now

    def reset(self) -> None:
        """Back to the state after start: initial credentials with every capability,
        no alerts/configs/prefixes, cache flags and cluster restored, memcached flushed and
        its stats reset, samples, events, request log and faults cleared; then one sample."""
        with self._lock:
            # memcached stamps its log lines with the wall clock of this host: whatever it
            # logged before now and is still on its way through the stream is dropped.
            self._floor = time.time()
            self._restore_state()
            self._log.clear()
            self._samples.clear()
            self._events.clear()
            self._recent.clear()
            self._observed_since = self._clock()
        self.faults.clear()
        self._sync_logins()
        if self._admin is not None:
            self._admin.command(b"flush_all\r\n")
            self._admin.command(b"stats reset\r\n")
            self.sample_now()

    # -- state helpers (call with self._lock held unless said otherwise)

    def _restore_state(self) -> None:
        self._creds = {}
        for index, (user, secret) in enumerate(self._initial):
            self._creds[user] = _Cred(id=index + 1, username=user, secret=secret)
        self._next_cred_id = len(self._initial) + 1
        next(iter(self._creds.values())).primary = True
        self._alerts.clear()
        self._configs.clear()
        self._prefixes.clear()
        self._prefix_counts.clear()
        self._next_ids = {"alert": 1, "config": 1, "prefix": 1}
        self._enabled = True
        self._cluster = CLUSTERS[0]
        self._sso_secret = secrets.token_hex(16)
        self._can_switch = True
        self._can_manage_credentials = True
        self._can_update_capabilities = True

    def _primary(self) -> _Cred:
        for cred in self._creds.values():
            if cred.primary:
                return cred
        raise AssertionError("no primary credential")  # pragma: no cover

    def _ordered(self) -> list[_Cred]:
        return sorted(self._creds.values(), key=lambda c: (not c.primary, c.id))

    def _new_cred(self, *, write: bool = True, flush: bool = True, api: bool = True) -> _Cred:
        cred = _Cred(
            id=self._next_cred_id,
            username=_new_username(set(self._creds)),
            secret=secrets.token_hex(16),
            write=write,
            flush=flush,
            api=api,
        )
        self._next_cred_id += 1
        self._creds[cred.username] = cred
        return cred

    def _sync_logins(self) -> None:
        """Make memcached's authfile hold the primary and the oldest credentials (up to 8).

        Call without ``self._lock``. Waits until memcached applies the file; a failure is
        logged, the API state stays as it is.
        """
        with self._auth_lock:
            with self._lock:
                has_auth = bool(self._memcached.users)
                wanted: dict[str, str] = {}
                for cred in self._ordered():
                    cred.login = has_auth and len(wanted) < MAX_USERS
                    if cred.login:
                        wanted[cred.username] = cred.secret
            if not has_auth or not self._memcached.running:
                return
            current = self._memcached.users
            if list(current.items()) == list(wanted.items()):
                return
            try:
                self._memcached.reload_auth(wanted)
            except (MemcachedError, OSError) as err:
                logger.warning("MemCachierAPIServer: could not update memcached logins: %s", err)

    def _login_for_admin(self) -> tuple[str, str] | None:
        users = self._memcached.users
        if not users:
            return None
        with self._lock:
            for cred in self._ordered():
                if users.get(cred.username) == cred.secret:
                    return cred.username, cred.secret
        return next(iter(users.items()))

    def _on_event(
        self, kind: str, key: str, command: str, status: str, size: int, logged: float
    ) -> None:
        event = _Event(self._clock(), kind, key, command, status, size, logged)
        with self._lock:
            if logged <= self._floor:
                return  # memcached logged it before the last reset()
            self._events.append(event)
            self._recent.append(event)
            if kind in ("hit", "miss", "mutation"):
                for pid, name in self._prefixes.items():
                    if key.startswith(name):
                        counts = self._prefix_counts.setdefault(pid, _PrefixCounts())
                        if kind == "hit":
                            counts.hits += 1
                        elif kind == "miss":
                            counts.misses += 1
                        else:
                            counts.mutations += 1

    def _log_admin(self, command: str, status: str) -> None:
        event = _Event(self._clock(), "admin", "", command, status, 0)
        with self._lock:
            self._recent.append(event)

    def _sync_events(self) -> None:
        if self._observer is not None:
            self._observer.sync()

    def _sample_loop(self) -> None:
        assert self._sample_interval is not None
        while not self._stop_sampler.wait(self._sample_interval):
            try:
                self.sample_now()
            except Exception as err:  # memcached down: try again at the next tick
                logger.debug("MemCachierAPIServer: sampling failed: %s", err)

    # -- memcached commands

    def _require_admin(self) -> _AdminConnection:
        if self._admin is None:
            raise MemcachedError("the server is not started")
        return self._admin

    def _stats_command(self) -> dict[str, int]:
        try:
            reply = self._require_admin().command(b"stats\r\n", b"END\r\n")
        except (OSError, MemcachedError) as err:
            self._log_admin("STATS", "ERROR")
            raise MemcachedError(f"stats failed: {err}") from err
        if not reply.startswith((b"STAT ", b"END")):
            self._log_admin("STATS", "ERROR")
            raise MemcachedError(f"unexpected reply to stats: {reply[:200]!r}")
        self._log_admin("STATS", "OK")
        return _parse_stats(reply)

    def _simple_command(self, payload: bytes, expected: bytes, label: str) -> None:
        try:
            reply = self._require_admin().command(payload)
        except (OSError, MemcachedError) as err:
            self._log_admin(label, "ERROR")
            raise MemcachedError(f"{label} failed: {err}") from err
        if reply != expected:
            self._log_admin(label, "ERROR")
            raise MemcachedError(f"unexpected reply to {label}: {reply[:200]!r}")
        self._log_admin(label, "OK")

    def _flush(self) -> None:
        self._simple_command(b"flush_all\r\n", b"OK\r\n", "FLUSH_ALL")

    def _reset_stats(self) -> None:
        self._simple_command(b"stats reset\r\n", b"RESET\r\n", "STATS RESET")

    def _meta_debug(self, key: str) -> int | None:
        """The item size memcached reports for ``key``, or ``None`` when it is not cached."""
        reply = self._require_admin().command(b"me " + key.encode() + b"\r\n")
        if not reply.startswith(b"ME "):
            return None
        match = re.search(rb" size=(\d+)", reply)
        return int(match.group(1)) if match else 0

    def _metadump(self) -> list[tuple[str, int, int]] | None:
        """``(key, exp, size)`` of every item, or ``None`` when memcached cannot list them."""
        with self._lock:
            last = self._samples[-1] if self._samples else None
        if last is not None and _sum_stats(last.stats.values()).get("curr_items", 0) > (
            METADUMP_MAX_ITEMS
        ):
            return None
        for _ in range(10):
            try:
                reply = self._require_admin().command(b"lru_crawler metadump all\r\n", b"END\r\n")
            except (OSError, MemcachedError):
                return None
            if reply.startswith(b"BUSY"):
                time.sleep(0.02)
                continue
            if reply.startswith(ERROR_PREFIXES):
                return None
            items: list[tuple[str, int, int]] = []
            for line in reply.decode("utf-8", errors="replace").splitlines():
                fields = dict(part.partition("=")[::2] for part in line.split(" ") if "=" in part)
                if "key" not in fields:
                    continue
                try:
                    items.append(
                        (unquote(fields["key"]), int(fields.get("exp", "-1")), int(fields["size"]))
                    )
                except (KeyError, ValueError):
                    continue
            return items
        return None

    # -- HTTP entry point

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[_Reply, str | None]:
        """Answer one request; returns the reply and the API version (for the log)."""
        raw_path, _, query_string = target.partition("?")
        path = _normalise_path(raw_path)
        version = _version_of(path)
        query = parse_qs(query_string, keep_blank_values=True)
        found = _match_route(path)
        if found is None:
            return _error(version, 404, "Not found: no such endpoint."), version
        route, params = found
        if method not in route.methods:
            allowed = ", ".join(route.methods)
            reply = _error(
                version, 405, f"Method {method} is not allowed here; use {allowed}.", route.name
            )
            reply.headers["Allow"] = allowed
            return reply, version
        version = route.version
        cred: _Cred | None = None
        try:
            cred = self._authorize(route, params, headers.get("authorization"))
            if too_large:
                raise _Invalid(400, f"Request body too large: the maximum is {MAX_BODY_BYTES}.")
            handler: Callable[[_Ctx], _Reply] = getattr(self, route.handler)
            reply = handler(_Ctx(version, method, params, query, body, headers, cred))
        except _Invalid as err:
            reply = _error(version, err.status, err.message)
            reply.headers.update(err.headers)
        reply.route = route.name
        reply.user = cred.username if cred is not None else None
        return reply, version

    def _authorize(self, route: _Route, params: dict[str, str], header: str | None) -> _Cred:
        v1 = route.version == "v1"
        basic = _parse_basic(header)
        if route.name == "v1_login":
            # Ambiguity: /login documents 403 and 404 "No cache found." (no 401): a username
            # that names no credential finds no cache (404); a wrong password, no credentials
            # or no API capability are 403.
            if basic is None:
                raise _Invalid(403, V1_FORBIDDEN)
            with self._lock:
                cred = self._creds.get(basic[0])
                if cred is None:
                    raise _Invalid(404, V1_NO_CACHE)
                if not _password_ok(cred, basic[1]) or not cred.api:
                    raise _Invalid(403, V1_FORBIDDEN)
                return replace(cred)
        cache = params.get("cache", "")
        if not v1 and not (cache.isascii() and cache.isdigit()):
            raise _Invalid(400, V2_INVALID_CACHE_ID)
        with self._lock:
            cred = self._creds.get(basic[0]) if basic is not None else None
            if cred is None or basic is None or not _password_ok(cred, basic[1]):
                # Ambiguity: v1 documents no 401; every failure there is its 403.
                if v1:
                    raise _Invalid(403, V1_FORBIDDEN)
                raise _Invalid(401, V2_UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="api"'})
            if not (cache.isascii() and cache.isdigit() and int(cache) == self._cache_id):
                if v1:
                    raise _Invalid(403, V1_FORBIDDEN)
                # Ambiguity: the commands and insight endpoints document 404 "Cache not
                # found." and no 403; the others document 403 "Forbidden...".
                if route.not_found_style:
                    raise _Invalid(404, V2_CACHE_NOT_FOUND)
                raise _Invalid(403, V2_FORBIDDEN)
            if not cred.api:
                raise _Invalid(403, V1_FORBIDDEN if v1 else V2_FORBIDDEN)
            return replace(cred)

    # -- shared pieces of the handlers

    def _find_cred(self, ref: str, version: str) -> _Cred:
        """A credential by username, else by numeric id (call with the lock held).

        Ambiguity: v1's request lines name ``<cred_id>`` and its examples
        ``<cred_username>``; both are accepted, the username first.
        """
        cred = self._creds.get(ref)
        if cred is None and ref.isascii() and ref.isdigit():
            cred = next((c for c in self._creds.values() if c.id == int(ref)), None)
        if cred is None:
            raise _Invalid(404, "No credentials found." if version == "v1" else "Not found.")
        return cred

    def _check_manage(self, version: str) -> None:
        if not self._can_manage_credentials:
            raise _Invalid(403, V1_FORBIDDEN if version == "v1" else V2_NOT_ALLOWED_TO_MANAGE)

    def _create(self, version: str) -> _Cred:
        with self._lock:
            self._check_manage(version)
            cred = self._new_cred()
        self._sync_logins()
        return cred

    def _delete(self, ctx: _Ctx) -> None:
        with self._lock:
            self._check_manage(ctx.version)
            cred = self._find_cred(ctx.params["cred"], ctx.version)
            if cred.primary:
                # Ambiguity: not documented; a cache always keeps a primary credential.
                raise _Invalid(400, PRIMARY_NOT_DELETABLE)
            del self._creds[cred.username]
        self._sync_logins()

    def _promote(self, ctx: _Ctx) -> _Cred:
        with self._lock:
            cred = self._find_cred(ctx.params["cred"], ctx.version)
            for other in self._creds.values():
                other.primary = other is cred
            result = replace(cred)
        self._sync_logins()
        return result

    def _update(self, ctx: _Ctx, values: dict[str, bool]) -> dict[str, bool]:
        with self._lock:
            self._check_manage(ctx.version)
            if not self._can_update_capabilities:
                raise _Invalid(
                    403, V1_FORBIDDEN if ctx.version == "v1" else V2_NOT_ALLOWED_TO_MANAGE
                )
            cred = self._find_cred(ctx.params["cred"], ctx.version)
            cred.write = values["write_capability"]
            cred.flush = values["flush_capability"]
            cred.api = values["api_capability"]
            return cred.capabilities()

    def _server_error(self) -> _Invalid:
        return _Invalid(500, f"Server error: {self.memcached_server}")

    # -- v1 handlers

    def _v1_login(self, ctx: _Ctx) -> _Reply:
        return _Reply(200, {"cache_id": self._cache_id})

    def _v1_stats(self, ctx: _Ctx) -> _Reply:
        try:
            raw = self._stats_command()
        except MemcachedError as err:
            raise self._server_error() from err
        return _Reply(200, {self.memcached_server: _documented(raw)})

    def _v1_history(self, ctx: _Ctx) -> _Reply:
        # Ambiguity: the example's "server" has no port while stats keys have one; both use
        # host:port here (two local memcached servers share a host).
        with self._lock:
            samples = list(self._samples)
        history = [
            {
                "memcachier_id": str(self._cache_id),
                "server": server,
                "stats": _documented(stats),
                "timestamp": str(int(sample.time * 1000)),
            }
            for sample in samples
            for server, stats in sample.stats.items()
        ]
        return _Reply(200, history)

    def _v1_flush(self, ctx: _Ctx) -> _Reply:
        if not ctx.cred.flush:
            # "Certain credentials may not have permission to flush the cache, which will
            # produce a 403 error."
            raise _Invalid(403, V1_FORBIDDEN)
        try:
            self._flush()
        except MemcachedError as err:
            raise self._server_error() from err
        return _Reply(200, "")

    def _v1_credentials(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "GET":
            with self._lock:
                listed = [_v1_listed(c, self._cache_id) for c in self._creds.values()]
            return _Reply(200, listed)
        cred = self._create("v1")
        # The document's example shows "id": null and "uuid": null in the answer.
        payload = {
            "cache_id": self._cache_id,
            "id": None,
            "sasl_password": cred.password,
            "sasl_username": cred.username,
            "uuid": None,
            "primary": False,
            **cred.capabilities(),
        }
        return _Reply(200, payload)

    def _v1_credential(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "DELETE":
            self._delete(ctx)
            return _Reply(200, "")
        # Ambiguity: the request line says POST, the example PATCH: both update. The
        # capabilities come from the query string (the document's "Query Parameters") and
        # the body (its example: JSON, sent by curl -d as a form body; form-encoded also
        # accepted); the body wins. Values: true/false, as booleans or strings. An omitted
        # capability takes the table's default, true.
        given: dict[str, object] = {k: v[-1] for k, v in ctx.query.items() if v}
        given.update(_v1_body(ctx.body))
        values = {
            name: _v1_bool(given[name], name) if name in given else True
            for name in ("flush_capability", "write_capability", "api_capability")
        }
        return _Reply(200, self._update(ctx, values))

    def _v1_credential_primary(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "DELETE":
            # The document gives the promote path for Delete Credentials.
            self._delete(ctx)
            return _Reply(200, "")
        cred = self._promote(ctx)
        payload = {
            "cache_id": self._cache_id,
            "id": None,
            "sasl_username": cred.username,
            "uuid": None,
            "primary": True,
            **cred.capabilities(),
        }
        return _Reply(200, payload)

    # -- v2 handlers: info and credentials

    def _v2_info(self, ctx: _Ctx) -> _Reply:
        with self._lock:
            last = self._samples[-1] if self._samples else None
            plan = sum(s.get("limit_maxbytes", 0) for s in last.stats.values()) if last else 0
            info = {
                "id": self._cache_id,
                "name": f"{self._cache_id:06X}",
                "label": "cacheops local cache",
                "cache_type": "memcachier",
                "plan": plan,
                "provider": "local",
                "enabled": self._enabled,
                "cluster_name": self._cluster,
                "servers": [self.memcached_server],
                "credentials": [_v2_cred(c, self._cache_id) for c in self._creds.values()],
                "can_switch": self._can_switch,
                "can_manage_credentials": self._can_manage_credentials,
                "can_update_capabilities": self._can_update_capabilities,
            }
        return _Reply(200, info)

    def _v2_credentials(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "GET":
            with self._lock:
                listed = [_v2_cred(c, self._cache_id) for c in self._creds.values()]
            return _Reply(200, listed)
        cred = self._create("v2")
        return _Reply(201, _v2_cred(cred, self._cache_id))

    def _v2_credential(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "DELETE":
            self._delete(ctx)
            return _Reply(200, _NO_BODY)
        doc = _json_object(ctx.body, allow_empty=True)
        values: dict[str, bool] = {}
        for name in ("write_capability", "flush_capability", "api_capability"):
            value = doc.get(name, False)  # "if you omit a capability ... set to false"
            if not isinstance(value, bool):
                raise _Invalid(400, f"Invalid {name}: it must be true or false.")
            values[name] = value
        return _Reply(200, self._update(ctx, values))

    def _v2_credential_primary(self, ctx: _Ctx) -> _Reply:
        cred = self._promote(ctx)
        return _Reply(200, _v2_cred(cred, self._cache_id))

    # -- v2 handlers: management

    def _v2_rotate_sso(self, ctx: _Ctx) -> _Reply:
        # Ambiguity: "Returns string": the new SSO secret.
        with self._lock:
            self._sso_secret = secrets.token_hex(16)
            value = self._sso_secret
        return _Reply(200, value)

    def _v2_enable_cache(self, ctx: _Ctx) -> _Reply:
        with self._lock:
            self._enabled = True
        return _Reply(200, _NO_BODY)

    def _v2_switch_cluster(self, ctx: _Ctx) -> _Reply:
        with self._lock:
            if not self._can_switch:
                raise _Invalid(403, "Not allowed to switch cluster.")
            index = CLUSTERS.index(self._cluster) if self._cluster in CLUSTERS else -1
            self._cluster = CLUSTERS[(index + 1) % len(CLUSTERS)]
            value = self._cluster
        return _Reply(200, value)

    # -- v2 handlers: commands

    def _v2_flush(self, ctx: _Ctx) -> _Reply:
        if not ctx.cred.flush:
            raise _Invalid(403, V2_NO_FLUSH_CAPABILITY)
        try:
            self._flush()
        except MemcachedError as err:
            raise _Invalid(400, "Failed to flush cache.") from err
        return _Reply(204, _NO_BODY)

    def _v2_reset_stats(self, ctx: _Ctx) -> _Reply:
        try:
            self._reset_stats()
        except MemcachedError as err:
            raise _Invalid(400, "Failed to reset stats.") from err
        return _Reply(204, _NO_BODY)

    def _v2_stats(self, ctx: _Ctx) -> _Reply:
        try:
            raw = self._stats_command()
        except MemcachedError as err:
            raise _Invalid(400, "Failed to get stats.") from err
        return _Reply(200, _documented(raw))

    # -- v2 handlers: insight

    def _window(self, ctx: _Ctx) -> tuple[float, float]:
        now = self._clock()
        end = _query_time(ctx.query, "endTime", now)
        start = _query_time(ctx.query, "startTime", end - _DAY)
        if start > end:
            raise _Invalid(400, "Invalid time range: startTime is after endTime.")
        return start, end

    def _names(self, ctx: _Ctx) -> list[str]:
        names = [n.strip() for v in ctx.query.get("names", []) for n in v.split(",") if n.strip()]
        if not names:
            raise _Invalid(400, V2_NAMES_REQUIRED)
        unknown = [n for n in names if n not in _PROCESSED]
        if unknown:
            raise _Invalid(400, f"InfluxDB query returned error: unknown stat name(s) {unknown}.")
        return names

    def _v2_processed_stats(self, ctx: _Ctx) -> _Reply:
        names = self._names(ctx)
        start, end = self._window(ctx)
        with self._lock:
            points = [(s.time, _sum_stats(s.stats.values())) for s in self._samples]
        values = _series(points, start, end, _granularity(end - start), names, _PROCESSED)
        payload = [{"name": "processed_stats", "columns": ["time", *names], "values": values}]
        return _Reply(200, payload)

    def _v2_processed_stats_per_server(self, ctx: _Ctx) -> _Reply:
        names = self._names(ctx)
        start, end = self._window(ctx)
        step = _granularity(end - start)
        with self._lock:
            samples = list(self._samples)
        payload = []
        for server in [self.memcached_server]:
            points = [(s.time, s.stats[server]) for s in samples if server in s.stats]
            payload.append(
                {
                    "name": "processed_stats",
                    "tags": {"server": server},
                    "columns": ["time", *names],
                    "values": _series(points, start, end, step, names, _PROCESSED),
                }
            )
        return _Reply(200, payload)

    def _v2_latency(self, ctx: _Ctx) -> _Reply:
        start, end = self._window(ctx)
        step = _granularity(end - start, fine=20.0)
        with self._lock:
            samples = list(self._samples)
        payload = []
        for server in [self.memcached_server]:
            buckets: dict[float, list[float]] = {}
            for sample in samples:
                if start <= sample.time <= end and server in sample.latency_ns:
                    bucket = math.floor(sample.time / step) * step
                    buckets.setdefault(bucket, []).append(sample.latency_ns[server])
            values = [
                [_rfc3339(bucket), round(sum(v) / len(v), 2)]
                for bucket, v in sorted(buckets.items())
            ]
            payload.append(
                {
                    "name": "latency",
                    "tags": {"server": server},
                    "columns": ["time", "duration"],
                    "values": values,
                }
            )
        return _Reply(200, payload)

    # -- v2 handlers: alerts and delivery configs

    def _v2_alerts(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "GET":
            with self._lock:
                return _Reply(200, [dict(a) for a in self._alerts.values()])
        doc = _json_object(ctx.body)
        if not isinstance(doc.get("trigger_type"), str) or not doc["trigger_type"]:
            raise _Invalid(400, V2_ALERT_NEEDS_TYPE)
        # Ambiguity: only the type is documented as required; the rest defaults to
        # threshold 0, no delivery config, empty description, enabled.
        alert: dict[str, Any] = {
            "id": 0,
            "trigger_type": "",
            "trigger_threshold": 0,
            "delivery_config_id": None,
            "description": "",
            "enabled": True,
        }
        with self._lock:
            self._apply_alert_fields(alert, doc, "The alert could not be added")
            alert["id"] = self._next_ids["alert"]
            self._next_ids["alert"] += 1
            self._alerts[alert["id"]] = alert
            return _Reply(201, dict(alert))

    def _alert_id(self, ctx: _Ctx) -> int:
        text = ctx.params["alert"]
        if not (text.isascii() and text.isdigit()):
            raise _Invalid(400, V2_INVALID_ALERT_ID)
        return int(text)

    def _v2_alert(self, ctx: _Ctx) -> _Reply:
        alert_id = self._alert_id(ctx)
        with self._lock:
            alert = self._alerts.get(alert_id)
            if ctx.method == "GET":
                if alert is None:
                    # Ambiguity: not documented; 404.
                    raise _Invalid(404, "Alert not found.")
                return _Reply(200, dict(alert))
            if ctx.method == "DELETE":
                if alert is None:
                    raise _Invalid(400, "The alert could not be deleted: no alert with this ID.")
                del self._alerts[alert_id]
                # 201 as documented ("Deleted alert successfully."); no body is documented.
                return _Reply(201, _NO_BODY)
        doc = _json_object(ctx.body)
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                raise _Invalid(400, "The alert could not be updated: no alert with this ID.")
            if "id" in doc and doc["id"] != alert_id:
                raise _Invalid(400, "The alert could not be updated: the body's id differs.")
            # Ambiguity: the example sends only id and enabled: fields left out keep
            # their values.
            updated = dict(alert)
            self._apply_alert_fields(updated, doc, "The alert could not be updated")
            self._alerts[alert_id] = updated
            return _Reply(201, dict(updated))

    def _apply_alert_fields(self, alert: dict[str, Any], doc: dict[str, Any], what: str) -> None:
        if "trigger_type" in doc:
            if doc["trigger_type"] not in ("hit_rate", "memory_usage"):
                raise _Invalid(400, f'{what}: trigger_type must be "hit_rate" or "memory_usage".')
            alert["trigger_type"] = doc["trigger_type"]
        if "trigger_threshold" in doc:
            value = doc["trigger_threshold"]
            if not _is_number(value) or not 0 <= value <= 100:
                raise _Invalid(400, f"{what}: trigger_threshold must be a percentage 0-100.")
            alert["trigger_threshold"] = value
        if "delivery_config_id" in doc:
            value = doc["delivery_config_id"]
            if value is not None and (not _is_int(value) or value not in self._configs):
                raise _Invalid(400, f"{what}: no delivery config with id {value!r}.")
            alert["delivery_config_id"] = value
        if "description" in doc:
            if not isinstance(doc["description"], str):
                raise _Invalid(400, f"{what}: description must be a string.")
            alert["description"] = doc["description"]
        if "enabled" in doc:
            if not isinstance(doc["enabled"], bool):
                raise _Invalid(400, f"{what}: enabled must be true or false.")
            alert["enabled"] = doc["enabled"]

    def _v2_configs(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "GET":
            with self._lock:
                return _Reply(200, [dict(c) for c in self._configs.values()])
        doc = _json_object(ctx.body)
        kind = doc.get("delivery_type")
        if not isinstance(kind, str) or not kind:
            raise _Invalid(400, V2_CONFIG_NEEDS_TYPE)
        what = "The alert delivery config could not be added"
        if kind not in ("email", "slack"):
            raise _Invalid(400, f'{what}: delivery_type must be "email" or "slack".')
        config: dict[str, Any] = {"id": 0, "delivery_type": kind}
        for name in ("email", "slack_url", "slack_channel"):
            value = doc.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise _Invalid(400, f"{what}: {name} must be a string.")
            config[name] = value
        if kind == "email" and "@" not in config["email"]:
            raise _Invalid(400, f"{what}: an email delivery config needs an email address.")
        if kind == "slack" and not config["slack_url"].startswith(("https://", "http://")):
            raise _Invalid(400, f"{what}: a slack delivery config needs a slack_url.")
        with self._lock:
            config["id"] = self._next_ids["config"]
            self._next_ids["config"] += 1
            self._configs[config["id"]] = config
            return _Reply(201, dict(config))

    def _v2_config(self, ctx: _Ctx) -> _Reply:
        text = ctx.params["config"]
        if not (text.isascii() and text.isdigit()):
            raise _Invalid(400, V2_INVALID_CONFIG_ID)
        config_id = int(text)
        what = "The alert delivery config could not be deleted"
        with self._lock:
            if config_id not in self._configs:
                raise _Invalid(400, f"{what}: no delivery config with this ID.")
            users = [a["id"] for a in self._alerts.values() if a["delivery_config_id"] == config_id]
            if users:
                # Ambiguity: not documented; an alert in use keeps its config.
                raise _Invalid(400, f"{what}: alert(s) {users} use it.")
            del self._configs[config_id]
        return _Reply(204, _NO_BODY)

    # -- v2 handlers: introspection

    def _v2_recent_logs(self, ctx: _Ctx) -> _Reply:
        self._sync_events()
        with self._lock:
            entries = sorted(self._recent, key=lambda e: e.time)
        lines = [
            {
                "timestamp": _rfc3339(e.time),
                "key": e.key,
                "command": e.command,
                "status": e.status,
                "size": e.size,
            }
            for e in entries
        ]
        return _Reply(200, {self.memcached_server: lines})

    def _v2_compound_stats(self, ctx: _Ctx) -> _Reply:
        start, end = self._window(ctx)
        with self._lock:
            points = [(s.time, _sum_stats(s.stats.values())) for s in self._samples]
        names = list(_COMPOUND)
        values = _series(points, start, end, _granularity(end - start), names, _COMPOUND)
        payload = [{"name": "compound_stats", "columns": ["time", *names], "values": values}]
        return _Reply(200, payload)

    def _popular(self, prefix: str | None) -> dict[str, Any]:
        self._sync_events()
        now = self._clock()
        with self._lock:
            events = list(self._events)
            since = self._observed_since
            if len(events) == self._events.maxlen and events:
                since = events[0].time
        hits: Counter[str] = Counter()
        misses: Counter[str] = Counter()
        mutations: Counter[str] = Counter()
        prefixes: Counter[str] = Counter()
        for event in events:
            if prefix is not None and not event.key.startswith(prefix):
                continue
            if event.kind == "hit":
                hits[event.key] += 1
            elif event.kind == "miss":
                misses[event.key] += 1
            elif event.kind == "mutation":
                mutations[event.key] += 1
            else:
                continue
            group = _key_prefix(event.key, prefix or "")
            if group is not None:
                prefixes[group] += 1
        return {
            "time_slice": max(0, int((now - since) * 1e9)),
            "most_hit_keys": _top(hits),
            "most_missed_keys": _top(misses),
            "most_mutated_keys": _top(mutations),
            "popular_prefixes": _top(prefixes),
        }

    def _v2_popular_items(self, ctx: _Ctx) -> _Reply:
        return _Reply(200, self._popular(None))

    def _v2_key_stats(self, ctx: _Ctx) -> _Reply:
        key = ctx.query.get("key", [""])[-1]
        if not key:
            raise _Invalid(400, "Query parameter key is required.")
        encoded = key.encode()
        if len(encoded) > 250 or any(b <= 32 or b == 127 for b in encoded):
            raise _Invalid(400, "Invalid key: at most 250 bytes, no spaces or control characters.")
        self._sync_events()
        try:
            item_size = self._meta_debug(key)
        except (OSError, MemcachedError) as err:
            raise _Invalid(500, "Unexpected error: memcached did not answer.") from err
        counts = {"hit": 0, "miss": 0, "mutation": 0}
        last_size: int | None = None
        with self._lock:
            for event in self._events:
                if event.key == key and event.kind in counts:
                    counts[event.kind] += 1
                    if event.kind in ("hit", "mutation"):
                        last_size = event.size
        in_cache = item_size is not None
        size = 0
        if in_cache:
            size = last_size if last_size is not None else item_size or 0
        entry = {
            "timestamp": _rfc3339(self._clock()),
            "name": key,
            "size": size,
            "hit_count": counts["hit"],
            "miss_count": counts["miss"],
            "mutation_count": counts["mutation"],
            "in_cache": in_cache,
        }
        return _Reply(200, [entry])

    def _v2_prefixes(self, ctx: _Ctx) -> _Reply:
        if ctx.method == "GET":
            with self._lock:
                listed = [{"id": pid, "name": name} for pid, name in self._prefixes.items()]
            return _Reply(200, listed)
        doc = _json_object(ctx.body)
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            raise _Invalid(400, "A prefix requires a name.")
        if len(name.encode()) > 250 or any(ord(c) <= 32 or ord(c) == 127 for c in name):
            raise _Invalid(400, "Invalid prefix: at most 250 bytes, no spaces or control chars.")
        with self._lock:
            for pid, existing in self._prefixes.items():
                if existing == name:
                    # Ambiguity: watching a watched prefix returns it (200), no duplicate.
                    return _Reply(200, {"id": pid, "name": name})
            pid = self._next_ids["prefix"]
            self._next_ids["prefix"] += 1
            self._prefixes[pid] = name
            self._prefix_counts[pid] = _PrefixCounts()
        return _Reply(200, {"id": pid, "name": name})

    def _prefix_id(self, ctx: _Ctx) -> int:
        text = ctx.params["prefix"]
        if not (text.isascii() and text.isdigit()):
            raise _Invalid(400, "The specified prefix ID is invalid (not a number).")
        pid = int(text)
        with self._lock:
            if pid not in self._prefixes:
                raise _Invalid(404, "Prefix not found.")
        return pid

    def _v2_prefix(self, ctx: _Ctx) -> _Reply:
        pid = self._prefix_id(ctx)
        with self._lock:
            self._prefixes.pop(pid, None)
            self._prefix_counts.pop(pid, None)
        return _Reply(204, _NO_BODY)

    def _v2_prefix_stats(self, ctx: _Ctx) -> _Reply:
        pid = self._prefix_id(ctx)
        start, end = self._window(ctx)
        with self._lock:
            points = [
                (s.time, _prefix_stats(s.prefixes[pid])) for s in self._samples if pid in s.prefixes
            ]
        defs: dict[str, tuple[str, ...]] = {
            "num_keys": ("gauge", "num_keys"),
            "total_size": ("gauge", "total_size"),
            "total_hits_rate": ("rate", "prefix_hits"),
            "total_misses_rate": ("rate", "prefix_misses"),
            "total_mutations_rate": ("rate", "prefix_mutations"),
        }
        values = _series(points, start, end, _granularity(end - start), _PREFIX_COLUMNS, defs)
        payload = [
            {"name": "prefix_stats", "columns": ["time", *_PREFIX_COLUMNS], "values": values}
        ]
        return _Reply(200, payload)

    def _v2_prefix_popular_items(self, ctx: _Ctx) -> _Reply:
        pid = self._prefix_id(ctx)
        with self._lock:
            name = self._prefixes[pid]
        return _Reply(200, self._popular(name))


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class _Route:
    name: str
    version: str
    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    handler: str
    not_found_style: bool = False


def _routes() -> list[_Route]:
    v1 = r"^/api/v1/(?P<cache>[^/]+)"
    v2 = r"^/api/v2/caches/(?P<cache>[^/]+)"
    seg = r"(?P<{}>[^/]+)"
    table: list[tuple[str, str, str, tuple[str, ...], bool]] = [
        # Ambiguity: /login's request line says /api/login, its example /api/v1/login.
        ("v1_login", "v1", r"^/api(?:/v1)?/login$", ("GET",), False),
        ("v1_stats", "v1", v1 + r"/stats$", ("GET",), False),
        ("v1_history", "v1", v1 + r"/history$", ("GET",), False),
        ("v1_flush", "v1", v1 + r"/flush$", ("POST",), False),
        ("v1_credentials", "v1", v1 + r"/credentials$", ("GET", "POST"), False),
        (
            "v1_credential_primary",
            "v1",
            v1 + r"/credentials/primary/" + seg.format("cred") + "$",
            ("POST", "DELETE"),
            False,
        ),
        (
            "v1_credential",
            "v1",
            v1 + r"/credentials/" + seg.format("cred") + "$",
            ("POST", "PATCH", "DELETE"),
            False,
        ),
        ("v2_info", "v2", v2 + r"/info$", ("GET",), False),
        ("v2_credentials", "v2", v2 + r"/credentials$", ("GET", "POST"), False),
        (
            "v2_credential_primary",
            "v2",
            v2 + r"/credentials/primary/" + seg.format("cred") + "$",
            ("POST",),
            False,
        ),
        (
            "v2_credential",
            "v2",
            v2 + r"/credentials/" + seg.format("cred") + "$",
            ("PATCH", "DELETE"),
            False,
        ),
        ("v2_rotate_sso", "v2", v2 + r"/rotate_sso$", ("POST",), False),
        ("v2_enable_cache", "v2", v2 + r"/enable_cache$", ("POST",), False),
        ("v2_switch_cluster", "v2", v2 + r"/switch_cluster$", ("POST",), False),
        ("v2_flush", "v2", v2 + r"/flush$", ("POST",), True),
        ("v2_reset_stats", "v2", v2 + r"/reset_stats$", ("POST",), True),
        ("v2_stats", "v2", v2 + r"/stats$", ("GET",), True),
        ("v2_processed_stats", "v2", v2 + r"/insight/processed_stats$", ("GET",), True),
        (
            "v2_processed_stats_per_server",
            "v2",
            v2 + r"/insight/processed_stats/per_server$",
            ("GET",),
            True,
        ),
        ("v2_latency", "v2", v2 + r"/insight/latency$", ("GET",), True),
        ("v2_configs", "v2", v2 + r"/alerts/configs$", ("GET", "POST"), False),
        (
            "v2_config",
            "v2",
            v2 + r"/alerts/configs/" + seg.format("config") + "$",
            ("DELETE",),
            False,
        ),
        ("v2_alerts", "v2", v2 + r"/alerts$", ("GET", "POST"), False),
        (
            "v2_alert",
            "v2",
            v2 + r"/alerts/" + seg.format("alert") + "$",
            ("GET", "PUT", "DELETE"),
            False,
        ),
        ("v2_recent_logs", "v2", v2 + r"/introspection/recent_logs$", ("GET",), False),
        ("v2_compound_stats", "v2", v2 + r"/introspection/compound_stats$", ("GET",), False),
        ("v2_popular_items", "v2", v2 + r"/introspection/popular_items$", ("GET",), False),
        ("v2_key_stats", "v2", v2 + r"/introspection/key_stats$", ("GET",), False),
        ("v2_prefixes", "v2", v2 + r"/introspection/prefixes$", ("GET", "POST"), False),
        (
            "v2_prefix",
            "v2",
            v2 + r"/introspection/prefixes/" + seg.format("prefix") + "$",
            ("DELETE",),
            False,
        ),
        (
            "v2_prefix_stats",
            "v2",
            v2 + r"/introspection/prefixes/" + seg.format("prefix") + r"/stats$",
            ("GET",),
            False,
        ),
        (
            "v2_prefix_popular_items",
            "v2",
            v2 + r"/introspection/prefixes/" + seg.format("prefix") + r"/popular_items$",
            ("GET",),
            False,
        ),
    ]
    return [
        _Route(name, version, re.compile(pattern), methods, "_" + name, not_found)
        for name, version, pattern, methods, not_found in table
    ]


_ROUTES = _routes()


def _match_route(path: str) -> tuple[_Route, dict[str, str]] | None:
    for route in _ROUTES:
        match = route.pattern.match(path)
        if match:
            return route, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


def _normalise_path(path: str) -> str:
    if path.startswith(("http://", "https://")):  # absolute-form request target
        slash = path.find("/", path.index("//") + 2)
        path = path[slash:] if slash >= 0 else "/"
    # Ambiguity: the Heroku article's deploy-hook URL has "api/v1//<id>/flush": empty
    # path segments are ignored.
    return re.sub(r"/{2,}", "/", path)


def _version_of(path: str) -> str | None:
    if path == "/api/login" or path.startswith("/api/v1/"):
        return "v1"
    if path.startswith("/api/v2/"):
        return "v2"
    return None


# --------------------------------------------------------------------------- helpers


def _error(version: str | None, status: int, message: str, route: str | None = None) -> _Reply:
    payload: Any = message if version == "v1" else {"error": message}
    return _Reply(status, payload, route=route)


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, data = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(data.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _password_ok(cred: _Cred, password: str) -> bool:
    return hmac.compare_digest(password.encode(), cred.password.encode())


def _new_username(taken: set[str]) -> str:
    """Six upper-case hex characters with at least one letter (so never a numeric id)."""
    while True:
        name = secrets.token_hex(3).upper()
        if not name.isdigit() and name not in taken:
            return name


def _v1_listed(cred: _Cred, cache_id: int) -> dict[str, Any]:
    return {
        "cache_id": cache_id,
        "flush_capability": cred.flush,
        "id": cred.id,
        "sasl_username": cred.username,
        "uuid": None,
        "write_capability": cred.write,
        "api_capability": cred.api,
        "primary": cred.primary,
    }


def _v2_cred(cred: _Cred, cache_id: int) -> dict[str, Any]:
    return {
        "id": cred.id,
        "cache_id": cache_id,
        "sasl_username": cred.username,
        "sasl_password": cred.password,
        "write_capability": cred.write,
        "flush_capability": cred.flush,
        "api_capability": cred.api,
        "primary": cred.primary,
    }


def _documented(raw: Mapping[str, int]) -> dict[str, int]:
    derived = {
        "cmd_delete": raw.get("delete_hits", 0) + raw.get("delete_misses", 0),
        "expired": raw.get("get_expired", 0),
    }
    return {
        name: derived[name] if name in derived else raw.get(name, 0) for name in DOCUMENTED_STATS
    }


def _sum_stats(servers: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for stats in servers:
        for name, value in stats.items():
            if name == "time":
                total[name] = max(total.get(name, 0), value)
            else:
                total[name] = total.get(name, 0) + value
    return total


def _prefix_stats(sample: _PrefixSample) -> dict[str, int | None]:
    return {
        "num_keys": sample.num_keys,
        "total_size": sample.total_size,
        "prefix_hits": sample.hits,
        "prefix_misses": sample.misses,
        "prefix_mutations": sample.mutations,
    }


def _term(stats: _Stats, name: str) -> int | None:
    compute = _TERMS.get(name)
    if compute is not None:
        return compute(stats)
    value = stats.get(name, 0)
    return value if isinstance(value, int) else None


def _increase(prev: _Stats, cur: _Stats, name: str) -> int:
    before, after = _term(prev, name) or 0, _term(cur, name) or 0
    return after - before if after >= before else after  # a reset: counted from zero


def _series(
    points: Sequence[tuple[float, _Stats]],
    start: float,
    end: float,
    step: float,
    names: Sequence[str],
    definitions: Mapping[str, tuple[str, ...]],
) -> list[list[Any]]:
    """Rows ``[time, value...]`` per bucket holding at least one interval (module docstring)."""
    by_time: dict[float, _Stats] = {}
    for moment, stats in sorted(points, key=lambda p: p[0]):
        by_time[moment] = stats  # the same time twice: the later sample wins
    ordered = sorted(by_time.items())
    buckets: dict[float, list[tuple[float, _Stats, _Stats]]] = {}
    for (t0, prev), (t1, cur) in itertools.pairwise(ordered):
        if start <= t1 <= end:
            bucket = math.floor(t1 / step) * step
            buckets.setdefault(bucket, []).append((t1 - t0, prev, cur))
    rows: list[list[Any]] = []
    for bucket, intervals in sorted(buckets.items()):
        seconds = sum(dt for dt, _, _ in intervals)
        last = intervals[-1][2]
        row: list[Any] = [_rfc3339(bucket)]
        for name in names:
            kind, *terms = definitions[name]
            if kind == "gauge":
                row.append(_term(last, terms[0]))
            elif kind == "rate":
                total = sum(_increase(p, c, terms[0]) for _, p, c in intervals)
                row.append(round(total / seconds, 6) if seconds > 0 else 0.0)
            else:
                top = sum(_increase(p, c, terms[0]) for _, p, c in intervals)
                bottom = sum(_increase(p, c, terms[1]) for _, p, c in intervals)
                row.append(round(top / bottom, 6) if bottom > 0 else 0.0)
        rows.append(row)
    return rows


def _granularity(span: float, *, fine: float = 60.0) -> float:
    if span <= _DAY:
        return fine
    if span <= 7 * _DAY:
        return 600.0
    if span <= 90 * _DAY:  # "up to 3 month"
        return 3600.0
    return _DAY


def _rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _query_time(query: dict[str, list[str]], name: str, default: float) -> float:
    values = query.get(name)
    if not values or not values[-1]:
        return default
    text = values[-1].strip()
    if "T" not in text.upper():
        raise _Invalid(400, f"Invalid {name}: expected an RFC 3339 time like 2023-01-08T15:20:00Z.")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(
            400, f"Invalid {name}: expected an RFC 3339 time like 2023-01-08T15:20:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _key_prefix(key: str, under: str) -> str | None:
    """``under`` plus the rest of ``key`` up to and including its first delimiter."""
    rest = key[len(under) :]
    for index, char in enumerate(rest):
        if char in PREFIX_DELIMITERS:
            return under + rest[: index + 1]
    return None


def _top(counts: Counter[str]) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:POPULAR_LIMIT]
    return [{"name": name, "popularity": count} for name, count in ranked if count > 0]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    if not body.strip():
        if allow_empty:
            return {}
        raise _Invalid(400, "Invalid JSON: a JSON object body is required.")
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise _Invalid(400, f"Invalid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise _Invalid(400, "Invalid JSON: the body must be a JSON object.")
    return doc


def _v1_body(body: bytes) -> dict[str, object]:
    if not body.strip():
        return {}
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return {k: v[-1] for k, v in parse_qs(text.strip(), keep_blank_values=True).items() if v}
    if not isinstance(doc, dict):
        raise _Invalid(400, "Invalid body: expected a JSON object or form fields.")
    return doc


def _v1_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if _is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    raise _Invalid(400, f"Invalid {name}: use true or false.")


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(APIRequestHandler[MemCachierAPIServer, RecordedRequest]):
    server_version = "MemCachierAPILocal/1"
    error_key = "error"
    internal_error = "Server error"
    max_body_bytes = MAX_BODY_BYTES
    discard_cap = MAX_BODY_BYTES  # an over-size body is not drained: the connection closes

    def _read_body(self) -> tuple[bytes, bool]:
        # This server's framing, kept as it always was: a Content-Length frames the body
        # even beside "Transfer-Encoding: chunked" (the base reads it chunked, as RFC 9112
        # says), and a negative one means no body on a connection kept open (the base
        # closes it).
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return super()._read_body()
        with contextlib.suppress(ValueError):
            if int(length_text) < 0:
                return b"", False
        return self._read_sized(length_text)

    def _new_record(self, body: bytes) -> RecordedRequest:
        return RecordedRequest(method=self.command, path=self.path, status=None, body=body)

    def _answer(
        self, base: RecordedRequest, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[int, Any, dict[str, str], RecordedRequest]:
        reply, version = self._app._handle(self.command, self.path, headers, body, too_large)
        rec = replace(base, status=reply.status, user=reply.user, api=version, route=reply.route)
        return reply.status, reply.payload, reply.headers, rec

    # A request the API never saw is recorded and answered in the shape of the API version
    # its path names (send_error, for requests http.server refuses, always uses error_key).

    def _failed(
        self, base: RecordedRequest, status: int | None, fault: str | None
    ) -> RecordedRequest:
        return replace(base, status=status, api=self._version(), fault=fault)

    def _error_payload(self, status: int, message: str) -> Any:
        return _error(self._version(), status, message).payload

    def _version(self) -> str | None:
        return _version_of(_normalise_path(self.path.partition("?")[0]))
