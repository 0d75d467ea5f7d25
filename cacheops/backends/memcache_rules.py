"""What memcached's sync and asyncio backends share, whatever moves their bytes: the options
and their checks, memcached's limits (item size, counters, the 2038 expiry) and the one
translation of a failure into cacheops' errors.

:class:`MemcacheRules` sits before the sync or async Backend in a backend's bases, so its
option checks run at construction and ``coerce_options`` sees its keyword parameters.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Generator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheError,
    MemcacheServerError,
)

from ..config import CacheConfig, Server
from ..errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    NotNumeric,
    UnknownOutcome,
    ValueTooLarge,
)
from ..rules import TTL, CacheRules, Item
from ..serializers import FLAG_INT
from .memcache_cluster import Breakers, ConnectFailed, NodeSkipped

_C = TypeVar("_C", bound="MemcacheRules")

#: memcached reads an expiry over 30 days as an absolute Unix time...
_RELATIVE_EXPIRY_LIMIT = 30 * 24 * 3600
#: ... held in a signed 32-bit int: its last second is 2038-01-19 03:14:07 UTC. A later one
#: wraps into the past, and memcached answers STORED for an item that is already gone.
_LATEST_EXPIRY = 2**31 - 1
#: memcached's default item size (``-I``), also MemCachier's.
DEFAULT_ITEM_SIZE = 1024 * 1024
#: What memcached (1.6, 64-bit) counts in an item besides key and value: a 48-byte header,
#: the key's NUL, the value's CRLF and the 8-byte CAS; 4 more when the flags are not 0.
#: Measured against the server: value + key + 59 (+4) == -I is the largest item it takes.
_ITEM_OVERHEAD = 48 + 1 + 2 + 8
_FLAGS_OVERHEAD = 4
#: memcached's counters, and the deltas incr and decr take, are unsigned 64-bit.
_COUNTER_MAX = 2**64 - 1

#: A counter's steps: ``(command, args)`` to run (``incr``, ``decr`` or ``add``), the
#: reply sent back in; its return value is the count.
CounterPlan = Generator[tuple[str, tuple[Any, ...]], Any, int | None]


def expire(ttl: float | None) -> int:
    """memcached's exptime for a normalised ttl."""
    if ttl is None:
        return 0
    if ttl == 0.0:
        return -1
    seconds = math.ceil(ttl)
    if seconds <= _RELATIVE_EXPIRY_LIMIT:
        return seconds
    # _ttl refused anything later; the clamp only absorbs the second or so since it checked.
    return min(int(time.time()) + seconds, _LATEST_EXPIRY)


def _longest_ttl() -> float:
    """The longest ttl memcached can store now: up to its last absolute expiry, and past
    2038 still its 30 days of relative expiry."""
    return max(float(_RELATIVE_EXPIRY_LIMIT), _LATEST_EXPIRY - time.time())


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    """Refuse at connect() a duration the sockets would only refuse on first use."""
    # Comparisons written so that NaN, false against everything, fails them.
    if type(value) not in (int, float) or not (
        (value > 0 if positive else value >= 0) and value < math.inf
    ):
        least = "over 0" if positive else "0 or more"
        raise ConfigurationError(
            f"option {name} must be a finite number of seconds, {least}, not {value!r}"
        )


def node_name(server: Server) -> str:
    """``host:port``: a server's name in the hash ring, as pymemcache's HashClient names it."""
    return f"{server.host}:{server.port}"


def login_refused(username: str | None, server: str, reply: bytes) -> AuthenticationError:
    """The error of a login the server did not answer ``STORED``."""
    return AuthenticationError(
        f"the server refused the login of user {username!r}; check "
        "MEMCACHIER_USERNAME / MEMCACHIER_PASSWORD (new credentials can take minutes "
        "to become valid)",
        backend="memcachier",
        server=server,
        server_message=reply.decode("utf-8", "replace")[:200],
    )


class MemcacheRules(CacheRules):
    """memcached's options, limits and error translation, for the sync and async backends."""

    scheme = "memcached"
    #: The largest value any key can have in a default item (a 1-byte key, flags 0); each
    #: write is also checked against ``item_size`` with its own key and flags.
    default_max_value_size = DEFAULT_ITEM_SIZE - _ITEM_OVERHEAD - 1

    def __init__(
        self,
        *,
        servers: tuple[Server, ...] | list[Server],
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 2.0,
        timeout: float = 2.0,
        tls: bool | ssl.SSLContext = False,
        no_delay: bool = True,
        stale_after: float = 1.0,
        breaker_window: float = 1.0,
        retry_attempts: int = 2,
        dead_timeout: float = 30.0,
        api_url: str | None = None,
        allow_insecure_http: bool = False,
        item_size: int | None = DEFAULT_ITEM_SIZE,
        **options: Any,
    ) -> None:
        if item_size is not None and (
            type(item_size) is not int or item_size <= _ITEM_OVERHEAD + _FLAGS_OVERHEAD
        ):
            raise ConfigurationError(
                f"option item_size must be the server's item size in bytes (memcached's "
                f"-I, default {DEFAULT_ITEM_SIZE}), or None; not {item_size!r}"
            )
        # Unless given, max_value_size follows: the largest value any key can have.
        options.setdefault("max_value_size", item_size and item_size - _ITEM_OVERHEAD - 1)
        super().__init__(**options)
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            _check_seconds(name, value, positive=True)
        for name, value in (
            ("stale_after", stale_after),
            ("breaker_window", breaker_window),
            ("dead_timeout", dead_timeout),
        ):
            _check_seconds(name, value)
        if type(retry_attempts) is not int or retry_attempts < 0:
            raise ConfigurationError(
                f"option retry_attempts must be 0 or more, not {retry_attempts!r}"
            )
        #: memcached's item size: a write whose value, key and per-item overhead would
        #: exceed it is refused before sending (the server's refusal deletes the old value).
        self.item_size = item_size
        if not servers:
            raise ConfigurationError("a memcached backend needs at least one server")
        if username is not None and not self.key_is_valid(username):
            raise ConfigurationError(
                "the MemCachier username must be printable ASCII without spaces"
            )
        self.servers = tuple(servers)
        self.username = username
        self._password = password
        self.scheme = "memcachier" if username is not None else "memcached"
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.no_delay = no_delay
        self.tls_context: ssl.SSLContext | None = (
            ssl.create_default_context() if tls is True else tls or None
        )
        self.stale_after = stale_after
        self._breaker_kwargs: dict[str, Any] = {
            "window": breaker_window,
            "eject": len(self.servers) > 1,
            "attempts": retry_attempts,
            "dead_timeout": dead_timeout,
        }
        #: Options this backend takes for its admin and never reads itself: ``api_url``
        #: and ``allow_insecure_http``, for MemCachier's analytics API (see
        #: :func:`cacheops.admin.memcachier.analytics_api`).
        self.admin_options: Mapping[str, Any] = MappingProxyType(
            {"api_url": api_url, "allow_insecure_http": allow_insecure_http}
        )

    @classmethod
    def from_config(cls: type[_C], config: CacheConfig, **options: Any) -> _C:
        return cls(
            servers=config.servers,
            username=config.username if config.scheme == "memcachier" else None,
            password=config.password if config.scheme == "memcachier" else None,
            **cls.coerce_options(config, options),
        )

    @property
    def location(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"{self.scheme}://{user}{','.join(map(str, self.servers))}"

    @property
    def password(self) -> str | None:
        """MemCachier's password (None for memcached://): the login of every connection,
        and of the admin's analytics API. Never in ``repr``, ``location`` or a message."""
        return self._password

    def _new_breakers(self) -> Breakers:
        """The servers' breakers, and the ring of the cluster: the same for every client
        of these servers, sync or async, so they agree on where a key lives."""
        return Breakers([node_name(s) for s in self.servers], **self._breaker_kwargs)

    # -- memcached's limits --------------------------------------------------------------

    def _ttl(self, ttl: TTL) -> float | None:
        seconds = super()._ttl(ttl)
        if seconds is not None and seconds > _longest_ttl():
            raise InvalidTTL(
                f"ttl {seconds:,.0f} s would end after 2038-01-19 03:14:07 UTC, the last expiry "
                "memcached can store (over 30 days it takes a 32-bit Unix time, and a later "
                f"one stores an item already expired); use at most {_longest_ttl():,.0f} s, "
                "or None for no expiry",
                backend=self.scheme,
            )
        return seconds

    def capped_ttl(self, ttl: float) -> float:
        # A minute short of the limit, so the moments before _ttl checks it cannot cross it.
        return min(super().capped_ttl(ttl), max(0.0, _longest_ttl() - 60))

    def _fits(self, key: str, item: Item) -> None:
        """Refuse, before sending, an item the server would refuse: its refusal also
        deletes the value the key held."""
        if self.item_size is None:
            return
        size = len(item[0]) + len(key) + _ITEM_OVERHEAD + (_FLAGS_OVERHEAD if item[1] else 0)
        if size > self.item_size:
            largest = len(item[0]) - (size - self.item_size)
            raise ValueTooLarge(
                f"the encoded value is {len(item[0])} bytes; with its {len(key)}-byte key and "
                f"memcached's per-item overhead, the server's item size of {self.item_size} "
                f"bytes takes at most {largest}",
                backend=self.scheme,
            )

    def _counter_plan(self, key: str, delta: int, default: int | None) -> CounterPlan:
        """``incr_item`` as steps: a missing key is created at its start value by ``add``;
        if another worker created it first, ``add`` fails and the next ``incr`` applies to
        theirs, so no count is lost."""
        if abs(delta) > _COUNTER_MAX:
            raise self._out_of_range(f"the delta {delta}")
        if default is not None and default + delta > _COUNTER_MAX:
            raise self._out_of_range(f"the start value {default} + {delta}")
        command, amount = ("incr", delta) if delta >= 0 else ("decr", -delta)
        for _ in range(5):
            value = yield command, (key, amount)
            if value is not None or default is None:
                return None if value is None else int(value)
            start = max(0, default + delta)
            if (yield "add", (key, (str(start).encode(), FLAG_INT), 0)):
                return start
        raise BackendUnavailable(
            f"the counter {key!r} kept disappearing between incr and add", backend=self.scheme
        )

    def _out_of_range(self, what: str) -> NotNumeric:
        return NotNumeric(
            f"{what} is not a number memcached counts with: its counters are unsigned 64-bit "
            f"(0 to {_COUNTER_MAX}); nothing was sent",
            backend=self.scheme,
        )

    # -- failures ----------------------------------------------------------------------

    def _unknown_outcome(self, exc: BaseException) -> UnknownOutcome:
        return UnknownOutcome(
            "the connection was lost after a write was sent; it may or may not have been "
            "applied, so it was not resent",
            backend=self.scheme,
            server_message=str(exc) or type(exc).__name__,
        )

    def _translate(self, exc: Exception, write: bool) -> CacheError:
        if isinstance(exc, CacheError):
            return exc
        if isinstance(exc, ConnectFailed):
            return BackendUnavailable(str(exc), backend=self.scheme)
        if isinstance(exc, NodeSkipped):
            return BackendUnavailable(str(exc), backend=self.scheme, server=exc.server)
        if isinstance(exc, MemcacheServerError):
            text = exc.args[0].decode("utf-8", "replace") if exc.args else ""
            if "too large" in text:
                return ValueTooLarge(
                    "the value is over the server's item size",
                    backend=self.scheme,
                    server_message=text,
                )
            return BackendUnavailable(
                "the server reported an error", backend=self.scheme, server_message=text
            )
        if isinstance(exc, MemcacheClientError):
            text = exc.args[0].decode("utf-8", "replace") if exc.args else ""
            if "non-numeric" in text:
                return NotNumeric(
                    "the stored value is not a number", backend=self.scheme, server_message=text
                )
            if "unauthenticated" in text or "authentic" in text:
                # Before a login, memcached takes any set as one: "bad authentication token
                # format", or "authentication failure" when the value holds a space.
                return AuthenticationError(
                    "the server requires a login; use memcachier://USER:PASSWORD@host with "
                    "its credentials"
                    if self.username is None
                    else "the server refused the command as not logged in",
                    backend=self.scheme,
                    server_message=text,
                )
            if "bad command line format" in text:
                return InvalidKey(
                    "the server refused the key", backend=self.scheme, server_message=text
                )
            return CacheError(
                "the server refused the command", backend=self.scheme, server_message=text
            )
        if isinstance(exc, OSError):
            if write and not isinstance(exc, ConnectionRefusedError):
                return self._unknown_outcome(exc)
            return BackendUnavailable(
                f"memcached did not answer: {exc.strerror or exc}", backend=self.scheme
            )
        if isinstance(exc, MemcacheError):
            return BackendUnavailable(str(exc), backend=self.scheme)
        return CacheError(f"unexpected error: {exc!r}", backend=self.scheme)


__all__ = [
    "DEFAULT_ITEM_SIZE",
    "CounterPlan",
    "MemcacheRules",
    "expire",
    "login_refused",
    "node_name",
]
