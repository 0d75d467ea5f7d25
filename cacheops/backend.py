"""The Backend contract: what every cache does, and the behaviour they all share.

Public methods live here and are written once: key making and validation, value encoding,
ttl rules, the ``on_error="miss"`` policy, fork handling. A backend implements the small
set of ``_primitive`` methods, which receive keys that are final (prefixed, validated),
values that are encoded ``(payload, flags)`` pairs and ttls that are normalised:

- ``None``: never expire;
- ``0.0``: expire at once (the caller asked for ``ttl <= 0``);
- a positive float: seconds from now.

The conformance suite in :mod:`cacheops.testing.contract` is the executable definition.
"""

from __future__ import annotations

import abc
import datetime
import hashlib
import logging
import math
import os
import re
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, ParamSpec, TypeVar

from . import stampede as _stampede
from .config import CacheConfig, coerce_options
from .errors import (
    BackendUnavailable,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    KeyNotFound,
    SerializationError,
    ValueTooLarge,
)
from .serializers import Serializer, get_serializer

if TYPE_CHECKING:
    from .admin.base import Admin

log = logging.getLogger("cacheops")

Item = tuple[bytes, int]
"""An encoded value: ``(payload, flags)``."""

CasToken = int
TTL = float | int | datetime.timedelta | None

_T = TypeVar("_T")
_B = TypeVar("_B", bound="Backend")
_P = ParamSpec("_P")
_R = TypeVar("_R")

HASHED_KEY_MARK = "#h/"
#: Printable ASCII without spaces: the characters of a key that is safe on every backend.
PORTABLE_KEY = re.compile(r"[!-~]+")
_MISSING: Any = object()

# Every live backend, so a forked child can drop the sockets it inherited before using them.
_live: weakref.WeakSet[Backend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_live):
        backend._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Backend(abc.ABC):
    """One cache. See the contract table in the docs for what each backend guarantees."""

    #: URL scheme(s) this backend serves; the first names it in errors and stats.
    scheme: str = ""
    #: Longest key, in UTF-8 bytes, including the prefix.
    max_key_length: ClassVar[int] = 250
    #: Longest ttl the backend stores, in seconds (None: no limit).
    max_ttl: ClassVar[float | None] = None
    #: Largest encoded value by default (memcached's and MemCachier's item size).
    default_max_value_size: ClassVar[int | None] = 1024 * 1024

    def __init__(
        self,
        *,
        key_prefix: str | None = "",
        key_policy: Literal["strict", "hash"] = "strict",
        serializer: str | Serializer = "json",
        secret: str | bytes | None = None,
        on_error: Literal["raise", "miss"] = "raise",
        max_value_size: int | None = _MISSING,
    ) -> None:
        if key_policy not in ("strict", "hash"):
            raise ConfigurationError(f"key_policy must be 'strict' or 'hash', not {key_policy!r}")
        if on_error not in ("raise", "miss"):
            raise ConfigurationError(f"on_error must be 'raise' or 'miss', not {on_error!r}")
        if key_prefix is None:  # what cachelib and Flask-Caching pass for "no prefix"
            key_prefix = ""
        if not isinstance(key_prefix, str):
            raise ConfigurationError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
        if key_prefix and not self._key_is_valid(key_prefix):
            raise ConfigurationError(
                f"key_prefix {key_prefix!r} is not a valid key for {self.scheme}://"
            )
        if len(key_prefix.encode()) > self.max_key_length - 80:
            raise ConfigurationError(
                f"key_prefix is too long: leave room for keys within {self.max_key_length} bytes"
            )
        self.key_prefix = key_prefix
        self.key_policy = key_policy
        self.on_error = on_error
        self.serializer = get_serializer(serializer, secret)
        self.max_value_size = (
            self.default_max_value_size if max_value_size is _MISSING else max_value_size
        )
        self._admin: Admin | None = None
        #: Counters (and fail-safe memory) of :meth:`get_or_compute` in this process.
        self.stampede = _stampede.Stampede()
        _live.add(self)

    # -- construction ----------------------------------------------------------------

    @classmethod
    def from_config(cls: type[_B], config: CacheConfig, **options: Any) -> _B:
        """Build from a parsed location; options from the URL's query are overridden by
        ``options``. Backends with servers or credentials extend this."""
        return cls(**cls.coerce_options(config, options))

    @classmethod
    def coerce_options(cls, config: CacheConfig, options: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return coerce_options(cls, {**config.options, **options})
        except ConfigurationError as exc:
            raise ConfigurationError(f"{config.source}: {exc.message}") from None

    @property
    def location(self) -> str:
        """Where this cache is, with secrets redacted: used in errors, logs and repr."""
        return f"{self.scheme}://"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"

    # -- keys (named hooks, as in Django's BaseCache) --------------------------------

    def make_key(self, key: str) -> str:
        """The key as the server sees it: prefixed, then validated (or hashed)."""
        if type(key) is str and key:
            full = self.key_prefix + key
            if self._key_is_valid(full):
                return full
        return self._invalid_key(key)

    def _key_is_valid(self, key: str) -> bool:
        """The portable rule, safe on every backend and protocol: printable ASCII without
        spaces, at most ``max_key_length`` bytes. Code tested on memory:// therefore never
        meets a key that memcached would refuse."""
        return len(key) <= self.max_key_length and PORTABLE_KEY.fullmatch(key) is not None

    def _invalid_key(self, key: object) -> str:
        if not isinstance(key, str):
            raise InvalidKey(f"cache keys are str, not {type(key).__name__}", backend=self.scheme)
        if self.key_policy == "hash" and key:
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
            return f"{self.key_prefix}{HASHED_KEY_MARK}{digest}"
        raise InvalidKey(self._why_invalid(key), backend=self.scheme)

    def _why_invalid(self, key: str) -> str:
        shown = repr(key if len(key) <= 60 else key[:57] + "...")
        if not key:
            return "the empty string is not a valid cache key"
        full = self.key_prefix + key
        size = len(full.encode("utf-8", "surrogatepass"))
        if size > self.max_key_length:
            reason = f"is {size} bytes with its prefix; the limit is {self.max_key_length}"
        elif not full.isascii():
            reason = "has non-ASCII characters"
        else:
            reason = "has whitespace or control characters"
        return f"key {shown} {reason}; use key_policy='hash' to store such keys under a digest"

    # -- values and ttls -------------------------------------------------------------

    def _encode(self, value: Any) -> Item:
        try:
            item = self.serializer.dumps(value)
        except (ValueError, RecursionError) as exc:
            # An int past Python's str-conversion limit, a list nested past the recursion
            # limit: the value, not the cache, is at fault.
            raise SerializationError(
                f"the value cannot be encoded ({type(exc).__name__}: {exc})", backend=self.scheme
            ) from exc
        return self._sized(item)

    def _sized(self, item: Item) -> Item:
        if self.max_value_size is not None and len(item[0]) > self.max_value_size:
            raise ValueTooLarge(
                f"the encoded value is {len(item[0])} bytes; the limit is {self.max_value_size}",
                backend=self.scheme,
            )
        return item

    def _decode(self, key: str, item: Item) -> Any:
        """The stored value; a payload that does not decode is a SerializationError, never
        a raw codec error, so adapters can read it as a miss."""
        try:
            return self.serializer.loads(*_stampede.unwrap(item))
        except SerializationError as exc:
            raise SerializationError(
                f"cannot read the value under {key!r}: {exc.message}", backend=self.scheme
            ) from None
        except Exception as exc:
            # Whatever the codec raised (bad UTF-8 or JSON, JSON nested past the recursion
            # limit, an over-long int, a broken pickle): only its type is named, since its
            # text can quote the stored value.
            raise SerializationError(
                f"the value under {key!r} could not be decoded with flags {item[1]} "
                f"({type(exc).__name__}); it was probably written by another client or "
                "serializer: delete or overwrite it",
                backend=self.scheme,
            ) from exc

    def capped_ttl(self, ttl: float) -> float:
        """``ttl`` shortened to :attr:`max_ttl`. For framework adapters whose rule lets a cache
        forget an entry early (Django, Flask-Caching), where refusing a long timeout would
        leave nothing cached at all."""
        return ttl if self.max_ttl is None else min(ttl, self.max_ttl)

    def _ttl(self, ttl: TTL) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, datetime.timedelta):
            ttl = ttl.total_seconds()
        if type(ttl) not in (int, float) or math.isnan(ttl) or math.isinf(ttl):
            raise InvalidTTL(
                f"ttl must be a finite number of seconds or None, not {ttl!r}", backend=self.scheme
            )
        if ttl <= 0:
            return 0.0
        if self.max_ttl is not None and ttl > self.max_ttl:
            raise InvalidTTL(
                f"ttl {ttl:,} s is over this backend's maximum of {self.max_ttl:,.0f} s",
                backend=self.scheme,
            )
        return float(ttl)

    def _outage(self, exc: BackendUnavailable, fallback: _T) -> _T:
        if self.on_error == "miss":
            log.warning("cache unavailable, treated as a miss: %s", exc)
            return fallback
        raise exc

    @staticmethod
    def _key_list(keys: Iterable[str]) -> list[str]:
        if isinstance(keys, str):
            raise TypeError("pass an iterable of keys, not a single str")
        return list(keys)

    # -- the contract ----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        k = self.make_key(key)
        try:
            item = self._get(k)
        except BackendUnavailable as exc:
            return self._outage(exc, default)
        return default if item is None else self._decode(key, item)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values found, by key; missing keys are left out."""
        names = {self.make_key(key): key for key in self._key_list(keys)}
        if not names:
            return {}
        try:
            items = self._get_many(list(names))
        except BackendUnavailable as exc:
            return self._outage(exc, {})
        return {names[k]: self._decode(names[k], item) for k, item in items.items()}

    def put(self, key: str, value: Any, ttl: TTL = None) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        k, item = self.make_key(key), self._encode(value)
        try:
            self._set(k, item, None if ttl is None else self._ttl(ttl))
        except BackendUnavailable as exc:
            self._outage(exc, None)

    def put_many(self, mapping: Mapping[str, Any], ttl: TTL = None) -> list[str]:
        """Store every pair; returns the keys that could not be stored (empty on success)."""
        t = self._ttl(ttl)
        names = {}
        items = {}
        for key, value in mapping.items():
            k = self.make_key(key)
            names[k] = key
            items[k] = self._encode(value)
        if not items:
            return []
        try:
            failed = self._set_many(items, t)
        except BackendUnavailable as exc:
            return self._outage(exc, list(mapping))
        return [names[k] for k in failed]

    def add(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds nothing; True when stored."""
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        try:
            return self._add(k, item, t)
        except BackendUnavailable as exc:
            return self._outage(exc, False)

    def replace(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds a value; True when stored."""
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        try:
            return self._replace(k, item, t)
        except BackendUnavailable as exc:
            return self._outage(exc, False)

    def gets(self, key: str) -> tuple[Any, CasToken] | None:
        """``(value, cas_token)`` for a later :meth:`cas`, or None when missing."""
        k = self.make_key(key)
        try:
            found = self._gets(k)
        except BackendUnavailable as exc:
            return self._outage(exc, None)
        return None if found is None else (self._decode(key, found[0]), found[1])

    def cas(self, key: str, value: Any, cas_token: CasToken, ttl: TTL = None) -> bool:
        """Store only if ``key`` is unchanged since :meth:`gets` gave ``cas_token``."""
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        try:
            return self._cas(k, item, cas_token, t)
        except BackendUnavailable as exc:
            return self._outage(exc, False)

    def increment(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Add ``delta`` atomically on the server and return the new value.

        A missing key starts at ``default``; ``default=None`` raises :class:`KeyNotFound`.
        An outage always raises: no count can be invented.
        """
        if type(delta) is not int:
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        if default is not None and type(default) is not int:
            raise TypeError(f"default must be an int or None, not {type(default).__name__}")
        result = self._incr(self.make_key(key), delta, default)
        if result is None:
            raise KeyNotFound(f"no value under {key!r} to change", backend=self.scheme)
        return result

    def decrement(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Subtract ``delta`` atomically; see :meth:`increment`."""
        if type(delta) is not int:
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        return self.increment(key, -delta, default)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when something was there."""
        k = self.make_key(key)
        try:
            return self._delete(k)
        except BackendUnavailable as exc:
            return self._outage(exc, False)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key given; missing ones are ignored."""
        final = [self.make_key(key) for key in self._key_list(keys)]
        if not final:
            return
        try:
            self._delete_many(final)
        except BackendUnavailable as exc:
            self._outage(exc, None)

    def touch(self, key: str, ttl: TTL) -> bool:
        """Give ``key`` a new ttl; True when it exists."""
        k, t = self.make_key(key), self._ttl(ttl)
        try:
            return self._touch(k, t)
        except BackendUnavailable as exc:
            return self._outage(exc, False)

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], _T | _stampede.Uncached[_T]],
        ttl: TTL,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> _T:
        """The value under ``key``, computed by ``compute()`` at most once per expiry across
        threads and processes (see docs/stampede.md for the model).

        ``ttl``: seconds the value is fresh. ``grace``: seconds past that a stale value is
        served while one caller recomputes (the item lives ``ttl + grace``). ``beta``: XFetch
        eagerness, 0 for no early recompute. ``lock_ttl``: the lease's ttl, the longest a
        crashed computation blocks others. ``wait``: how long a caller with no value waits
        for another's computation before computing itself (default ``lock_ttl``).
        ``fail_safe``: serve the last value within grace, with a WARNING, when the cache is
        unreachable or ``compute`` raises. Counters: :attr:`stampede`.
        """
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)
        return _stampede.get_or_compute(self, key, compute, ttl, options)

    def memoize(
        self,
        ttl: TTL,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
        key: Callable[..., str] | None = None,
        name: str | None = None,
        ignore: Collection[str] = (),
    ) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
        """Decorate a function so its results are cached through :meth:`get_or_compute`
        (same options), keyed ``memo:{module.qualname}:{digest of the bound, typed
        arguments}`` (see docs/stampede.md). ``name`` replaces ``module.qualname``;
        ``ignore`` leaves arguments out of the key; ``key(*args, **kwargs)`` makes the key
        itself."""
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)
        return _stampede.memoize(self, ttl, options, key=key, name=name, ignore=ignore)

    def clear(self) -> None:
        """Remove everything in the cache (all prefixes: the server has no notion of them)."""
        self._clear()

    def close(self) -> None:
        """Release connections; the backend reconnects lazily if used again."""
        if self._admin is not None:
            self._admin.close()

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def admin(self) -> Admin:
        """The admin interface (flush, stats, info) for this same cache."""
        if self._admin is None:
            self._admin = self._make_admin()
        return self._admin

    # -- what a backend implements ---------------------------------------------------

    def _after_fork(self) -> None:  # noqa: B027 - optional hook
        """Called in a forked child: drop (never close or reuse) inherited connections."""

    @abc.abstractmethod
    def _make_admin(self) -> Admin: ...

    @abc.abstractmethod
    def _get(self, key: str) -> Item | None: ...

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        found = {}
        for key in keys:
            item = self._get(key)
            if item is not None:
                found[key] = item
        return found

    @abc.abstractmethod
    def _set(self, key: str, item: Item, ttl: float | None) -> None: ...

    def _set_many(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            self._set(key, item, ttl)
        return []

    @abc.abstractmethod
    def _add(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def _replace(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def _gets(self, key: str) -> tuple[Item, CasToken] | None: ...

    @abc.abstractmethod
    def _cas(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def _incr(self, key: str, delta: int, default: int | None) -> int | None:
        """Add the signed ``delta``; a missing key starts at ``default``, or returns None
        when ``default`` is None. Raises NotNumeric on a value that is not a number."""

    @abc.abstractmethod
    def _delete(self, key: str) -> bool: ...

    def _delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self._delete(key)

    @abc.abstractmethod
    def _touch(self, key: str, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def _clear(self) -> None: ...
