"""``CacheopsCache``: a Django ``CACHES`` backend over any cacheops URL.

    CACHES = {
        "default": {
            "BACKEND": "django_cacheops.CacheopsCache",
            # Omitted: MEMCACHIER_* (Heroku) or CACHEOPS_URL; or "env:NAME", or a URL
            # (a password in settings shows on Django's error pages: keep it in the environment).
            "OPTIONS": {"secret": SECRET_KEY},  # cacheops options, passed to connect()
        }
    }

Django's cache semantics hold exactly (timeouts, keys, versions, errors), whatever the cache
behind it; see ``docs/django.md`` for the choices made where Django leaves room.

Django builds one cache object per thread and per async context. Objects with the same
LOCATION and OPTIONS share one cacheops backend per process, which is thread-safe and keeps
its connections open between requests: ``memory://`` is then one store per process, as
LocMemCache is, and memcached connections are not reopened for every request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    InvalidCacheKey,
    memcache_key_warnings,
)
from django.core.exceptions import ImproperlyConfigured

import cacheops
from cacheops import (
    AsyncBackend,
    Backend,
    CacheError,
    ConfigurationError,
    InvalidKey,
    KeyNotFound,
    NotNumeric,
    NotSupported,
    SerializationError,
    ValueTooLarge,
)
from cacheops.rules import Plan, adrive, drive

from .location import resolve

log = logging.getLogger("django_cacheops")

_T = TypeVar("_T")

#: Defaults under OPTIONS: pickle, as Django's own backends; and keys Django accepts that the
#: backend cannot carry as they are (non-ASCII on memcached) stored under a digest.
DEFAULT_OPTIONS: Mapping[str, Any] = {"serializer": "pickle", "key_policy": "hash"}

# The characters Django's memcached backends refuse in a key (whitespace and controls).
_MEMCACHE_UNSAFE = re.compile(r"[\x00-\x20\x7f]")

# One backend per (LOCATION, OPTIONS) in the process, shared by every cache object.
_backends: dict[Hashable, Backend] = {}
_backends_lock = threading.Lock()
_ENV_PREFIXES = ("CACHEOPS_", "MEMCACHIER_", "IRON_")


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for an option value, equal for equal settings."""
    if isinstance(value, Mapping):
        return ("mapping", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("sequence", tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return value  # type: ignore[no-any-return]


def _environment() -> Hashable:
    """What ``connect()`` reads when given no URL (files such as iron.json aside)."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)))


def _shared_backend(location: str | None, options: Mapping[str, Any]) -> Backend:
    """The process's backend for ``location`` (None: the environment) and ``options``, built
    on first use. ``connect()`` only validates configuration: this never touches the network.
    """
    key = (location or _environment(), _freeze(dict(options)))
    backend = _backends.get(key)
    if backend is None:
        with _backends_lock:
            backend = _backends.get(key)
            if backend is None:
                backend = _backends[key] = cacheops.connect(location, **options)
    return backend


# Async backends per event loop (their connections belong to it), then as _backends. Under
# an ASGI server that is one per process; a loop that ends takes its backends with it.
_loop_backends: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Hashable, AsyncBackend | None]
] = weakref.WeakKeyDictionary()


def _loop_backend(location: str | None, options: Mapping[str, Any]) -> AsyncBackend | None:
    """The running loop's async backend for ``location`` and ``options``; None when the
    scheme has no async form."""
    loop = asyncio.get_running_loop()
    with _backends_lock:
        backends = _loop_backends.setdefault(loop, {})
    key = (location or _environment(), _freeze(dict(options)))
    if key not in backends:
        try:
            backends[key] = cacheops.connect_async(location, **options)
        except NotSupported:
            backends[key] = None
    return backends[key]


class CacheopsCache(BaseCache):
    """Django's cache API over a cacheops backend.

    ``LOCATION``: empty or omitted, the environment as ``cacheops.connect()`` reads it;
    ``"env:NAME"``, the URL in the environment variable NAME; a cacheops URL; or a list of
    memcached ``host:port`` (see :mod:`django_cacheops.location`).
    ``OPTIONS``: cacheops options (``secret``, ``key_policy``, ``timeout``, ...); the
    defaults are ``serializer="pickle"`` and ``key_policy="hash"``.
    """

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = {**DEFAULT_OPTIONS, **(params.get("OPTIONS") or {})}
        try:
            # The URL may hold a password: it is never kept or shown.
            self._location, self._options = resolve(location), options
            self.backend: Backend = _shared_backend(self._location, options)
        except ConfigurationError as exc:
            # The message names the problem and never holds a password or token.
            raise ImproperlyConfigured(f"CacheopsCache: {exc}") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.backend.location}>"

    # -- keys and timeouts -----------------------------------------------------------

    def validate_key(self, key: str) -> None:
        """Raise InvalidCacheKey for a key memcached cannot carry, as Django's memcached
        backends do, on every backend: code tested on ``memory://`` then never meets a key
        that production refuses."""
        if len(key) > MEMCACHE_MAX_KEY_LENGTH or _MEMCACHE_UNSAFE.search(key):
            for warning in memcache_key_warnings(key):
                raise InvalidCacheKey(warning)

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """The cacheops ttl for a Django timeout: None is forever, 0 or less is "do not
        cache" (cacheops: expire at once), and a ttl over what the backend can store is
        shortened to its maximum (a cache may always forget an entry early)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if timeout <= 0:
            return 0.0
        return self.backend.capped_ttl(timeout)

    # -- the cache API ---------------------------------------------------------------

    # Each operation is written once, as a plan (cacheops.rules) whose steps are calls of
    # the backend's public methods: the sync API runs it on the sync backend, the async API
    # awaits the same steps on the native async backend.

    def _plan_get(self, key: Any, default: Any, version: int | None) -> Plan[Any]:
        made = self.make_and_validate_key(key, version=version)
        try:
            return (yield "get", (made, default))
        except SerializationError as exc:
            return self._unreadable(made, exc, default)
        except CacheError as exc:
            _reraise(exc)

    def _plan_set(self, key: Any, value: Any, timeout: Any, version: int | None) -> Plan[None]:
        made = self.make_and_validate_key(key, version=version)
        try:
            yield "put", (made, value, self.get_backend_timeout(timeout))
        except ValueTooLarge:
            # As with Django's memcached backends, a failed set leaves no stale value behind
            # (the cached_db session backend relies on it).
            yield "delete", (made,)
            raise
        except CacheError as exc:
            _reraise(exc)

    def _plan_call(self, method: str, key: Any, version: int | None, *args: Any) -> Plan[Any]:
        """add, touch, delete: the backend's method on the made key, errors as Django's."""
        made = self.make_and_validate_key(key, version=version)
        try:
            return (yield method, (made, *args))
        except CacheError as exc:
            _reraise(exc)

    def _plan_get_many(self, keys: Iterable[Any], version: int | None) -> Plan[dict[Any, Any]]:
        names = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not names:
            return {}
        try:
            found = yield "get_many", (list(names),)
        except SerializationError:
            # A value could not be read: read them one by one, the unreadable ones as misses.
            missing = object()
            found = {}
            for made, key in names.items():
                value = yield from self._plan_get(key, missing, version)
                if value is not missing:
                    found[made] = value
        except CacheError as exc:
            _reraise(exc)
        return {names[made]: value for made, value in found.items()}

    def _plan_has_key(self, key: Any, version: int | None) -> Plan[bool]:
        missing = object()
        return (yield from self._plan_get(key, missing, version)) is not missing

    def _plan_incr(self, key: Any, delta: int, version: int | None) -> Plan[int]:
        made = self.make_and_validate_key(key, version=version)
        try:
            value: int = yield "increment", (made, delta, None)
            return value
        except KeyNotFound:
            raise ValueError(f"Key '{key}' not found") from None
        except NotNumeric as exc:
            raise TypeError(f"the value of '{key}' is not a number ({exc})") from None
        except CacheError as exc:
            _reraise(exc)

    def _plan_set_many(
        self, data: Mapping[Any, Any], timeout: Any, version: int | None
    ) -> Plan[list[Any]]:
        names = {self.make_and_validate_key(key, version=version): key for key in data}
        if not names:
            return []
        ttl = self.get_backend_timeout(timeout)
        values = {made: data[key] for made, key in names.items()}
        try:
            failed = yield "put_many", (values, ttl)
        except ValueTooLarge:
            # One value is over the item size: store the others, report and clear that one.
            failed = []
            for made, value in values.items():
                try:
                    yield "put", (made, value, ttl)
                except ValueTooLarge:
                    yield "delete", (made,)
                    failed.append(made)
        except CacheError as exc:
            _reraise(exc)
        return [names[made] for made in failed]

    def _plan_delete_many(self, keys: Iterable[Any], version: int | None) -> Plan[None]:
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        if made:
            try:
                yield "delete_many", (made,)
            except CacheError as exc:
                _reraise(exc)

    # -- the sync API ----------------------------------------------------------------

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        ttl = self.get_backend_timeout(timeout)
        return bool(drive(self._plan_call("add", key, version, value, ttl), self.backend))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return drive(self._plan_get(key, default, version), self.backend)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        drive(self._plan_set(key, value, timeout, version), self.backend)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        ttl = self.get_backend_timeout(timeout)
        return bool(drive(self._plan_call("touch", key, version, ttl), self.backend))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return bool(drive(self._plan_call("delete", key, version), self.backend))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return drive(self._plan_get_many(keys, version), self.backend)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return drive(self._plan_has_key(key, version), self.backend)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` atomically on the server. ValueError when the key is missing, as
        Django documents; TypeError when its value is not a number."""
        return drive(self._plan_incr(key, delta, version), self.backend)

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version=version)

    def get_or_compute(
        self,
        key: Any,
        compute: Callable[[], _T],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> _T:
        """``get_or_set`` with stampede protection: ``compute()`` runs at most once per
        expiry across threads and processes, stale values can be served while it runs, and
        under ``fail_safe`` the last value is served when the cache or ``compute`` fails
        (cacheops' ``Backend.get_or_compute``; see docs/stampede.md). ``timeout`` follows
        Django's rules (None: forever; 0: do not cache, so ``compute`` runs every call).
        ``get_or_set`` itself keeps Django's semantics."""
        made = self.make_and_validate_key(key, version=version)
        ttl = self.get_backend_timeout(timeout)
        try:
            return self.backend.get_or_compute(
                made,
                compute,
                ttl,
                grace=grace,
                beta=beta,
                lock_ttl=lock_ttl,
                wait=wait,
                fail_safe=fail_safe,
            )
        except CacheError as exc:
            _reraise(exc)

    def set_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        """Store every pair; return the keys that could not be stored (and hold nothing)."""
        return drive(self._plan_set_many(data, timeout, version), self.backend)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        drive(self._plan_delete_many(keys, version), self.backend)

    def clear(self) -> None:
        """Remove every item in the cache (every prefix and version: the server has no
        notion of them), as Django's memcached backends do."""
        self.backend.clear()

    def close(self, **kwargs: Any) -> None:
        """Django calls this after every request. The backend keeps its connections for the
        next one (they are per thread and thread-safe), so there is nothing to do; call
        ``cache.backend.close()`` to really drop them."""

    # -- the async API: the same plans on the native async backend -----------------------
    #
    # BaseCache's defaults would hop to a thread per call (per key for aget_many) and make
    # aincr a get then a set. aget_or_set, aincr_version and adecr_version are BaseCache's:
    # they are built on the methods here, so they are native too.

    async def _arun(self, plan: Plan[_T]) -> _T:
        backend = self.async_backend
        if backend is None:  # no async form of this scheme: the same plan in a thread
            return await sync_to_async(drive, thread_sensitive=False)(plan, self.backend)
        return await adrive(plan, backend)

    @property
    def async_backend(self) -> AsyncBackend | None:
        """The native async backend for this LOCATION and OPTIONS on the running event
        loop (its connections belong to that loop), or None where the scheme has none."""
        return _loop_backend(self._location, self._options)

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        ttl = self.get_backend_timeout(timeout)
        return bool(await self._arun(self._plan_call("add", key, version, value, ttl)))

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return await self._arun(self._plan_get(key, default, version))

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        await self._arun(self._plan_set(key, value, timeout, version))

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        ttl = self.get_backend_timeout(timeout)
        return bool(await self._arun(self._plan_call("touch", key, version, ttl)))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return bool(await self._arun(self._plan_call("delete", key, version)))

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return await self._arun(self._plan_get_many(keys, version))

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        return await self._arun(self._plan_has_key(key, version))

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self._arun(self._plan_incr(key, delta, version))

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self.aincr(key, -delta, version=version)

    async def aget_or_compute(
        self,
        key: Any,
        compute: Callable[[], Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: Any,
    ) -> Any:
        """:meth:`get_or_compute` on the event loop; ``compute`` may be an async function
        (a plain one runs on the loop: wrap blocking work in ``asyncio.to_thread``)."""
        backend = self.async_backend
        if backend is None:
            call = functools.partial(self.get_or_compute, **options)
            return await sync_to_async(call, thread_sensitive=False)(key, compute, timeout, version)
        made = self.make_and_validate_key(key, version=version)
        ttl = self.get_backend_timeout(timeout)
        try:
            return await backend.get_or_compute(made, compute, ttl, **options)
        except CacheError as exc:
            _reraise(exc)

    async def aset_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        return await self._arun(self._plan_set_many(data, timeout, version))

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        await self._arun(self._plan_delete_many(keys, version))

    async def aclear(self) -> None:
        await self._arun(_plan_clear())

    async def aclose(self, **kwargs: Any) -> None:
        self.close(**kwargs)

    # -- helpers ---------------------------------------------------------------------

    def _unreadable(self, key: str, exc: SerializationError, default: Any) -> Any:
        # A value the serializer refuses (an unsigned or tampered pickle under a secret, a
        # pickle under serializer="json") was never loaded: to Django it is a miss, so the
        # application recomputes and overwrites it.
        log.warning("cache value under %r not loaded, treated as a miss: %s", key, exc)
        return default


def _reraise(exc: CacheError) -> NoReturn:
    """Raise what Django users expect for a cacheops error: InvalidCacheKey for a key the
    backend cannot carry, and for a value that cannot be pickled the pickling error itself
    (Django's backends let it through); anything else as it is."""
    if isinstance(exc, InvalidKey):
        raise InvalidCacheKey(str(exc)) from None
    if isinstance(exc, SerializationError) and exc.__cause__ is not None:
        raise exc.__cause__ from None
    raise exc


def _plan_clear() -> Plan[None]:
    yield "clear", ()


__all__ = ["DEFAULT_OPTIONS", "CacheopsCache"]
