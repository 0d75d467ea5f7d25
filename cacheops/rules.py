"""The rules every cache follows, written once for the sync and the async Backend.

Each contract method is a *plan*: a generator that checks and encodes its arguments, yields
the one backend hook it needs as ``(hook_name, args)``, receives the hook's result (or has
its exception thrown in) and finishes (decoding, the ``on_error`` policy). The sync
:class:`~cacheops.backend.Backend` runs a plan by calling the hook; the async
:class:`~cacheops.aio.backend.AsyncBackend` by awaiting it. So key making and validation,
value encoding, ttl rules and error mapping exist in one copy whatever the I/O model.

Hooks receive keys that are final (prefixed, validated), values that are encoded
``(payload, flags)`` pairs and ttls that are normalised:

- ``None``: never expire;
- ``0.0``: expire at once (the caller asked for ``ttl <= 0``);
- a positive float: seconds from now.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import re
from collections.abc import Generator, Iterable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

from . import stampede as _stampede
from ._fork import reset_in_child
from .config import CacheConfig, coerce_options
from .envelope import unwrap
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

log = logging.getLogger("cacheops")

Item = tuple[bytes, int]
"""An encoded value: ``(payload, flags)``."""

CasToken = int
TTL = float | int | datetime.timedelta | None

_T = TypeVar("_T")
_R = TypeVar("_R")
_C = TypeVar("_C", bound="CacheRules")

#: One hook call a plan asks for: the hook's name and its arguments.
Call = tuple[str, tuple[Any, ...]]
#: A contract method's logic, to be run by a sync or an async driver.
Plan = Generator[Call, Any, _R]

HASHED_KEY_MARK = "#h/"
#: Printable ASCII without spaces: the characters of a key that is safe on every backend.
PORTABLE_KEY = re.compile(r"[!-~]+")
_MISSING: Any = object()


def drive(plan: Plan[_R], target: object) -> _R:
    """Run ``plan``, calling ``target``'s method of each name it yields."""
    try:
        name, args = next(plan)
        while True:
            try:
                result = getattr(target, name)(*args)
            except BaseException as exc:  # the plan decides what it catches
                name, args = plan.throw(exc)
            else:
                name, args = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(plan: Plan[_R], target: object) -> _R:
    """Run ``plan``, awaiting ``target``'s coroutine method of each name it yields."""
    try:
        name, args = next(plan)
        while True:
            try:
                result = await getattr(target, name)(*args)
            except BaseException as exc:  # cancellation included: a lease is released
                name, args = plan.throw(exc)
            else:
                name, args = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class CacheRules:
    """Options, keys, values, ttls and the contract's plans, shared by every backend."""

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
        if key_prefix and not self.key_is_valid(key_prefix):
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
        #: Counters (and fail-safe memory) of ``get_or_compute`` in this process.
        self.stampede = _stampede.Stampede()
        reset_in_child(self)  # a forked child drops the sockets it inherited

    # -- construction ----------------------------------------------------------------

    @classmethod
    def from_config(cls: type[_C], config: CacheConfig, **options: Any) -> _C:
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

    def after_fork(self) -> None:
        """Called in a forked child: drop (never close or reuse) inherited connections."""

    # -- keys (named hooks, as in Django's BaseCache) --------------------------------

    def make_key(self, key: str) -> str:
        """The key as the server sees it: prefixed, then validated (or hashed)."""
        if type(key) is str and key:
            full = self.key_prefix + key
            if self.key_is_valid(full):
                return full
        return self._invalid_key(key)

    def key_is_valid(self, key: str) -> bool:
        """The portable rule, safe on every backend and protocol: printable ASCII without
        spaces, at most ``max_key_length`` bytes. Code tested on memory:// therefore never
        meets a key that memcached would refuse. A backend whose server carries more
        overrides this public hook (IronCache does)."""
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
            return self.serializer.loads(*unwrap(item))
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

    # -- the contract's plans (see the module docstring) -----------------------------

    def _hook(self, name: str, args: tuple[Any, ...], fallback: _T) -> Plan[Any]:
        """Ask for hook ``name``; an outage gives ``fallback`` under ``on_error="miss"``."""
        try:
            return (yield name, args)
        except BackendUnavailable as exc:
            return self._outage(exc, fallback)

    def _plan_get(self, key: str, default: Any) -> Plan[Any]:
        k = self.make_key(key)
        item = yield from self._hook("get_item", (k,), _MISSING)
        return default if item is None or item is _MISSING else self._decode(key, item)

    def _plan_get_many(self, keys: Iterable[str]) -> Plan[dict[str, Any]]:
        names = {self.make_key(key): key for key in self._key_list(keys)}
        if not names:
            return {}
        items = yield from self._hook("get_items", (list(names),), {})
        return {names[k]: self._decode(names[k], item) for k, item in items.items()}

    def _plan_put(self, key: str, value: Any, ttl: TTL) -> Plan[None]:
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        yield from self._hook("set_item", (k, item, t), None)

    def _plan_put_many(self, mapping: Mapping[str, Any], ttl: TTL) -> Plan[list[str]]:
        t = self._ttl(ttl)
        names = {}
        items = {}
        for key, value in mapping.items():
            k = self.make_key(key)
            names[k] = key
            items[k] = self._encode(value)
        if not items:
            return []
        failed = yield from self._hook("set_items", (items, t), _MISSING)
        return list(mapping) if failed is _MISSING else [names[k] for k in failed]

    def _plan_store(self, hook: str, key: str, value: Any, ttl: TTL) -> Plan[bool]:
        """add, replace: a conditional write that answers whether it stored."""
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        stored: bool = yield from self._hook(hook, (k, item, t), False)
        return stored

    def _plan_gets(self, key: str) -> Plan[tuple[Any, CasToken] | None]:
        k = self.make_key(key)
        found = yield from self._hook("gets_item", (k,), None)
        return None if found is None else (self._decode(key, found[0]), found[1])

    def _plan_cas(self, key: str, value: Any, cas_token: CasToken, ttl: TTL) -> Plan[bool]:
        k, item, t = self.make_key(key), self._encode(value), self._ttl(ttl)
        stored: bool = yield from self._hook("cas_item", (k, item, cas_token, t), False)
        return stored

    def _plan_increment(self, key: str, delta: int, default: int | None) -> Plan[int]:
        # An outage always raises: no count can be invented.
        if type(delta) is not int:
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        if default is not None and type(default) is not int:
            raise TypeError(f"default must be an int or None, not {type(default).__name__}")
        result: int | None = yield "incr_item", (self.make_key(key), delta, default)
        if result is None:
            raise KeyNotFound(f"no value under {key!r} to change", backend=self.scheme)
        return result

    def _plan_decrement(self, key: str, delta: int, default: int | None) -> Plan[int]:
        if type(delta) is not int:
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        return (yield from self._plan_increment(key, -delta, default))

    def _plan_delete(self, key: str) -> Plan[bool]:
        deleted: bool = yield from self._hook("delete_item", (self.make_key(key),), False)
        return deleted

    def _plan_delete_many(self, keys: Iterable[str]) -> Plan[None]:
        final = [self.make_key(key) for key in self._key_list(keys)]
        if final:
            yield from self._hook("delete_items", (final,), None)

    def _plan_touch(self, key: str, ttl: TTL) -> Plan[bool]:
        k, t = self.make_key(key), self._ttl(ttl)
        touched: bool = yield from self._hook("touch_item", (k, t), False)
        return touched

    def _plan_clear(self) -> Plan[None]:
        yield "clear_items", ()


__all__ = [
    "HASHED_KEY_MARK",
    "PORTABLE_KEY",
    "TTL",
    "CacheRules",
    "Call",
    "CasToken",
    "Item",
    "Plan",
    "adrive",
    "drive",
]
